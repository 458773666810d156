import { createHash } from 'node:crypto';
import { InvalidOptionsError } from '../errors.js';

/** What Swarm accepts as a service name: a DNS label of at most 63 characters. */
const SERVICE_NAME = /^[A-Za-z0-9](?:[-_]*[A-Za-z0-9]+)*$/;
/** What Swarm accepts as a secret name (at most 64 characters). */
const SECRET_NAME = /^[A-Za-z0-9]+(?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;
/** A secret's file name under `/run/secrets/` (and its name in the options). */
const SECRET_FILE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** An environment variable name. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** Swarm refuses secrets larger than 500 KiB. */
export const MAX_SECRET_BYTES = 500 * 1024;
/** Where Swarm mounts a service's secrets in each task. */
export const SECRETS_DIR = '/run/secrets';

/** A secret the launcher creates for the run (see `SwarmLauncherOptions.secrets`). */
export interface SwarmSecret {
  /**
   * The file name in every task, `/run/secrets/<name>` (1 to 64 letters, digits, `_ . -`). On the engine the
   * secret is named `ordo-<runId>-<name>` and labelled with the run id.
   */
  name: string;
  /** The secret's content: text (UTF-8) or bytes, 1 byte to 500 KiB. Never put in an environment variable. */
  data: string | Uint8Array;
  /**
   * An environment variable that gets the secret's *path* (never its content), e.g. `ORDO_WORKER_TOKEN_FILE`.
   * @default none
   */
  env?: string | undefined;
}

/** A checked secret: its bytes and where it goes. */
export interface PreparedSecret {
  name: string;
  bytes: Buffer;
  env: string | undefined;
  /** The path inside each task. */
  path: string;
}

/**
 * `ordo-<runId>-<workerId>` when Swarm accepts it as a service name, else `ordo-` and a hash of both (a
 * worker id with `.` or a long id): the labels, not the name, identify the worker.
 */
export function serviceName(runId: string, workerId: string): string {
  const readable = `ordo-${runId}-${workerId}`;
  return readable.length <= 63 && SERVICE_NAME.test(readable) ? readable : `ordo-${digest(runId, workerId)}`;
}

/** `ordo-<runId>-<name>` when Swarm accepts it as a secret name, else `ordo-` and a hash of both. */
export function secretName(runId: string, name: string): string {
  const readable = `ordo-${runId}-${name}`;
  return readable.length <= 64 && SECRET_NAME.test(readable) ? readable : `ordo-${digest(runId, name)}`;
}

function digest(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 24);
}

/** Checks the `secrets` option: names, sizes, variable names, no duplicates. */
export function prepareSecrets(secrets: unknown): PreparedSecret[] {
  if (secrets === undefined) return [];
  if (!Array.isArray(secrets)) {
    throw new InvalidOptionsError('Option "secrets" must be an array of { name, data, env? }.');
  }
  const seen = new Set<string>();
  const envs = new Set<string>();
  return secrets.map((secret: Partial<SwarmSecret> | null, index): PreparedSecret => {
    const where = `secrets[${index}]`;
    const name = secret?.name;
    if (typeof name !== 'string' || !SECRET_FILE.test(name) || name === '.' || name === '..') {
      throw new InvalidOptionsError(
        `Option "${where}.name" must be 1 to 64 letters, digits, "_", "." or "-" (a file name under ${SECRETS_DIR}), got ${JSON.stringify(name)}.`,
      );
    }
    if (seen.has(name)) throw new InvalidOptionsError(`Option "secrets" names "${name}" twice.`);
    seen.add(name);
    const data = secret?.data;
    const bytes =
      typeof data === 'string'
        ? Buffer.from(data, 'utf8')
        : data instanceof Uint8Array
          ? Buffer.from(data)
          : undefined;
    if (!bytes || bytes.length === 0 || bytes.length > MAX_SECRET_BYTES) {
      throw new InvalidOptionsError(
        `Option "${where}.data" must be a string or bytes of 1 byte to 500 KiB (Swarm's limit), got ${bytes ? `${bytes.length} bytes` : typeof data}.`,
      );
    }
    const env = secret?.env;
    if (env !== undefined && (typeof env !== 'string' || !ENV_NAME.test(env) || envs.has(env))) {
      throw new InvalidOptionsError(
        `Option "${where}.env" must be an environment variable name used once (letters, digits, "_"), got ${JSON.stringify(env)}.`,
      );
    }
    if (env !== undefined) envs.add(env);
    return { name, bytes, env, path: `${SECRETS_DIR}/${name}` };
  });
}

/**
 * Throws when an environment value carries a secret's content: secrets reach workers as files only, and
 * the service spec (which `docker service inspect` shows to anyone with engine access) must not hold them.
 */
export function assertNoSecretInEnv(
  env: Readonly<Record<string, string>>,
  secrets: readonly PreparedSecret[],
): void {
  for (const secret of secrets) {
    const whole = secret.bytes.toString('utf8');
    // A token file usually ends with a newline that the environment value does not have.
    const forms = [whole, whole.replace(/\r?\n$/, '')].filter((text) => text.length >= 4); // shorter: too common
    for (const [key, value] of Object.entries(env)) {
      if (forms.some((text) => value.includes(text))) {
        throw new InvalidOptionsError(
          `Environment variable ${key} holds the content of secret "${secret.name}". Secrets reach workers only as files (${secret.path}); pass its path instead (the secret's \`env\` option does that).`,
          { details: { variable: key, secret: secret.name } },
        );
      }
    }
  }
}
