/**
 * Resilient fetch: `createRestrictedFetch` with governance's `wrap(retry, breaker)` per host, against a flaky
 * `node:http` server on 127.0.0.1. The retry rides out a blip; when the server goes down the breaker opens
 * and the retry stops at its `BREAKER_OPEN` instead of hammering the server; private and cloud-metadata
 * addresses are refused; once the server is back, the breaker lets a probe through and closes.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type Clock, isOrdoError, systemClock } from '@ordo/contracts';
import { createRestrictedFetch, type RestrictedFetch } from '@ordo/executor-spool';
import { type CircuitBreaker, createCircuitBreaker, retry, type WrappedPolicy, wrap } from '@ordo/governance';

/** What the example found, for its smoke test. */
export interface ResilientFetchDemo {
  /** Status (or error code) of each attempt of the first, retried call. */
  readonly retried: readonly (number | string)[];
  /** Every breaker transition, `from→to`. */
  readonly transitions: readonly string[];
  /** The error code of the calls made while the breaker was open, and how many reached the server. */
  readonly whileOpen: { codes: readonly string[]; serverHits: number; retryAfterMs: number };
  /** The error code of each blocked URL. */
  readonly blocked: Readonly<Record<string, string>>;
  /** Statuses of the calls after the server came back. */
  readonly recovered: readonly number[];
}

const print = (line: string) => console.log(line);

/** What one attempt ended with: the HTTP status of a 5xx the fetch handed the retry, or an error code. */
const outcomeOf = (error: unknown): number | string =>
  isOrdoError(error) ? error.code : ((error as { status?: number }).status ?? String(error));

/**
 * Runs the whole demonstration, printing through `log`. `clock` drives the breakers, the retry backoff and the
 * wait for recovery (the smoke test passes a fake one, so no outcome depends on how busy the machine is).
 */
export async function main(
  log: (line: string) => void = print,
  { clock = systemClock }: { clock?: Clock } = {},
): Promise<ResilientFetchDemo> {
  // A flaky dependency: `failNext` requests answer 503, and all of them while `down`.
  let failNext = 2;
  let down = false;
  let hits = 0;
  const server = createServer((_req, res) => {
    hits++;
    if (down || failNext > 0) {
      failNext = Math.max(0, failNext - 1);
      res.writeHead(503).end('busy');
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;

  // One policy per host, created on first use: a retry around a breaker. The breaker opens after 3
  // failures within 10 s, for 500 ms (doubling on each failed probe); 2 successful probes close it. The
  // retry makes up to 3 attempts, 50 ms then 100 ms apart, and stops at once when the breaker says to come
  // back later than its 400 ms cap. (A real client keeps the default `jitter: 'full'`, which spreads the
  // retries of many clients; the demo waits exact delays so its output is the same on every run.)
  const breakers = new Map<string, CircuitBreaker>();
  const policies = new Map<string, WrappedPolicy>();
  const transitions: string[] = [];
  // Every attempt's outcome in the current call: the retry reports the failed ones.
  let attempts: (number | string)[] = [];
  const record = ({ error }: { error?: unknown }) => {
    if (error !== undefined) attempts.push(outcomeOf(error));
  };
  const breakerFor = (host: string) => {
    let policy = policies.get(host);
    if (!policy) {
      const breaker = createCircuitBreaker({
        name: host,
        failureThreshold: 3,
        windowMs: 10_000,
        successThreshold: 2,
        backoff: { initialMs: 500, factor: 2, maxMs: 4_000 },
        clock,
      });
      breaker.on('state', ({ name, from, to }) => {
        transitions.push(`${from}→${to}`);
        log(`  [breaker ${name}: ${from} → ${to}]`);
      });
      const retrying = retry({
        name: `${host}-retry`,
        maxAttempts: 3,
        backoff: { initialMs: 50, factor: 2, maxMs: 400, jitter: 'none' },
        clock,
      });
      retrying.on('retry', record);
      retrying.on('giveUp', record);
      policy = wrap(retrying, breaker);
      breakers.set(host, breaker);
      policies.set(host, policy);
    }
    return policy;
  };

  /** One fetch (so one run of the host's policy); logs and returns the outcome of each attempt. */
  const call = async (): Promise<(number | string)[]> => {
    attempts = [];
    try {
      const response = await fetch(url);
      await response.body?.cancel(); // read or cancel every body, so the socket goes back to the pool
      if (response.status < 500) attempts.push(response.status); // a 5xx returned was the last failure
    } catch (error) {
      if (!isOrdoError(error)) throw error;
    }
    attempts.forEach((outcome, i) => {
      log(`  attempt ${i + 1}: ${typeof outcome === 'number' ? `HTTP ${outcome}` : outcome}`);
    });
    return attempts;
  };

  // 127.0.0.1 must be allowed explicitly: by default only public addresses are reachable.
  const fetch: RestrictedFetch = createRestrictedFetch({
    allowPrivate: ['127.0.0.1'],
    breakerFor,
    timeoutMs: 5_000,
  });
  try {
    log(`flaky server at ${url}`);

    log('\n1. a blip: two 503s, then the retry gets through');
    const retried = await call();

    log('\n2. the server goes down: the breaker opens and further calls never reach it');
    down = true;
    await call();
    const hitsBefore = hits;
    const codes: string[] = [];
    let retryAfterMs = 0;
    for (let i = 0; i < 5; i++) {
      await fetch(url).then(
        (response) => response.body?.cancel(),
        (error: unknown) => {
          if (!isOrdoError(error, 'BREAKER_OPEN')) throw error;
          codes.push(error.code);
          retryAfterMs = error.details?.retryAfterMs as number;
        },
      );
    }
    const serverHits = hits - hitsBefore;
    log(`  5 more calls: ${codes.join(', ')}; requests that reached the server: ${serverHits}`);
    log(`  retry after ${retryAfterMs} ms`);

    log('\n3. private and metadata addresses are refused, in any spelling');
    const blocked: Record<string, string> = {};
    for (const target of [
      'http://169.254.169.254/latest/meta-data/', // the cloud metadata endpoint
      'http://2852039166/latest/meta-data/', // the same address as one decimal number
      'http://[::ffff:a9fe:a9fe]/', // and as an IPv4-mapped IPv6 address
      'http://10.0.0.7/admin', // a private network
    ]) {
      await fetch(target).then(
        (response) => log(`  ${target}: HTTP ${response.status} (should have been refused!)`),
        (error: unknown) => {
          if (!isOrdoError(error)) throw error;
          blocked[target] = error.code;
          log(`  ${target}: ${error.code}`);
        },
      );
    }

    log('\n4. the server recovers: after retryAfterMs a probe goes through, two successes close the breaker');
    down = false;
    await clock.sleep(breakers.get('127.0.0.1')?.retryAfterMs ?? 0);
    const recovered: number[] = [];
    for (let i = 0; i < 2; i++) {
      const response = await fetch(url);
      recovered.push(response.status);
      log(`  HTTP ${response.status} ${await response.text()}`);
    }

    return { retried, transitions, whileOpen: { codes, serverHits, retryAfterMs }, blocked, recovered };
  } finally {
    await fetch.close();
    for (const breaker of breakers.values()) await breaker.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
