/**
 * Resilient fetch: `createRestrictedFetch` with a governance `CircuitBreaker` per host, against a flaky
 * `node:http` server on 127.0.0.1. Retries ride out a blip; when the server goes down the breaker opens and
 * stops hammering it; private and cloud-metadata addresses are refused; once the server is back, the breaker
 * lets a probe through and closes.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type Clock, isOrdoError, systemClock } from '@ordo/contracts';
import { createRestrictedFetch, type RestrictedFetch } from '@ordo/executor-spool';
import { CircuitBreaker } from '@ordo/governance';

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

/**
 * Calls `fetch` up to `attempts` times while it answers 5xx, with exponential backoff. A `BREAKER_OPEN` is
 * not retried: the breaker already knows the host is down and says when to come back (`retryAfterMs`).
 */
async function withRetries(
  call: () => Promise<Response>,
  { attempts = 3, backoffMs = 50, clock = systemClock, log = print } = {},
): Promise<(number | string)[]> {
  const outcomes: (number | string)[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const response = await call();
      await response.body?.cancel(); // read or cancel every body, so the socket goes back to the pool
      outcomes.push(response.status);
      log(`  attempt ${attempt}: HTTP ${response.status}`);
      if (response.status < 500) break;
    } catch (error) {
      if (!isOrdoError(error)) throw error;
      outcomes.push(error.code);
      log(`  attempt ${attempt}: ${error.code}`);
      if (error.code === 'BREAKER_OPEN') break;
    }
    if (attempt < attempts) await clock.sleep(backoffMs * 2 ** (attempt - 1));
  }
  return outcomes;
}

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

  // One breaker per host, created on first use. 3 failures within 10 s open it for 500 ms (doubling on
  // each failed probe); 2 successful probes close it.
  const breakers = new Map<string, CircuitBreaker>();
  const transitions: string[] = [];
  const breakerFor = (host: string) => {
    let breaker = breakers.get(host);
    if (!breaker) {
      breaker = new CircuitBreaker({
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
      breakers.set(host, breaker);
    }
    return breaker;
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
    const retried = await withRetries(() => fetch(url), { clock, log });

    log('\n2. the server goes down: the breaker opens and further calls never reach it');
    down = true;
    await withRetries(() => fetch(url), { clock, log });
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
