import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI's source entry, run as a real process. */
export const BIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'bin.ts');
const TSX = fileURLToPath(import.meta.resolve('tsx'));

/** A running `ordo` process with its output collected. */
export interface OrdoProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number-ish name when killed). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves once stdout contains `text`. */
  waitFor(text: string | RegExp): Promise<string>;
}

/** Starts `node --conditions=@ordo/source --import tsx src/cli/bin.ts …argv` in `cwd` (with `env` added). */
export function startOrdo(
  argv: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string>> = {},
): OrdoProcess {
  const child = spawn(process.execPath, ['--conditions=@ordo/source', '--import', TSX, BIN, ...argv], {
    cwd,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const waiters: { text: string | RegExp; resolve: (out: string) => void }[] = [];
  const matches = (text: string | RegExp) => (typeof text === 'string' ? out.includes(text) : text.test(out));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const waiter of waiters.filter((w) => matches(w.text))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(out);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (text) =>
      matches(text)
        ? Promise.resolve(out)
        : Promise.race([
            new Promise<string>((resolve) => waiters.push({ text, resolve })),
            exited.then(() => {
              throw new Error(`ordo exited before printing ${String(text)}:\n${out}\n${err}`);
            }),
          ]),
  };
}
