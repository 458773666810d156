import { fork } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { Agent, fetch } from 'undici';
import { createRestrictedFetch } from '../src/index.js';
import { interleave, type Measurement, round, writeResults } from './util.js';

const REQUESTS = 2_000;
const BLOCK = 25;
/** Rounds of the whole interleaved run; figures are medians over rounds. `FETCH_ROUNDS=…` overrides. */
const ROUNDS = Number(process.env.FETCH_ROUNDS ?? 7);

function getWithoutKeepAlive(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve(body));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** The loopback server runs in its own process, so its work does not share the client's event loop. */
const SERVER = `
const server = require('node:http').createServer((_req, res) => res.end('ok'));
let connections = 0;
server.on('connection', () => connections++);
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', (m) => m === 'count' ? process.send({ connections }) : process.exit(0));
`;

async function startServer() {
  const child = fork('-e', [SERVER], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  return {
    url: `http://127.0.0.1:${port}/`,
    async connections(): Promise<number> {
      child.send('count');
      const [{ connections }] = (await once(child, 'message')) as [{ connections: number }];
      return connections;
    },
    stop: () => child.send('stop'),
  };
}

const NAMES = [
  'ordo restricted fetch',
  'undici fetch (plain Agent)',
  'node:http, no keep-alive',
  'undici fetch + one loop turn',
] as const;

/**
 * One round: fresh servers (one per client, so each count is the connections that client opened, warm-up
 * included), fresh clients, every client run `REQUESTS` times interleaved in blocks; the order of the
 * clients is rotated by `rotate` so that none is always first in a block.
 */
async function runRound(rotate: number): Promise<Measurement[]> {
  const servers = await Promise.all(NAMES.map(() => startServer()));
  type Server = Awaited<ReturnType<typeof startServer>>;
  const [ordoServer, plainServer, httpServer, turnServer] = servers as [Server, Server, Server, Server];
  await using restricted = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
  const plainAgent = new Agent();
  const turnAgent = new Agent();
  const ops: Record<(typeof NAMES)[number], () => Promise<unknown>> = {
    'ordo restricted fetch': async () => (await restricted(ordoServer.url)).text(),
    'undici fetch (plain Agent)': async () =>
      (await fetch(plainServer.url, { dispatcher: plainAgent })).text(),
    'node:http, no keep-alive': () => getWithoutKeepAlive(httpServer.url),
    // What ordo does to keep one socket: wait the turn undici takes before reusing it.
    'undici fetch + one loop turn': async () => {
      const text = await (await fetch(turnServer.url, { dispatcher: turnAgent })).text();
      await new Promise((resolve) => setImmediate(resolve));
      return text;
    },
  };
  const order = NAMES.map((_, i) => NAMES[(i + rotate) % NAMES.length] as (typeof NAMES)[number]);
  const measured = await interleave(
    order.map((name) => ({ name, op: ops[name] })),
    REQUESTS,
    BLOCK,
  );
  await Promise.all([plainAgent.close(), turnAgent.close()]);
  const results: Measurement[] = [];
  for (const [index, name] of NAMES.entries()) {
    const m = measured.find((r) => r.name === name) as Measurement;
    results.push({ ...m, connectionsOpened: await servers[index]?.connections() });
  }
  for (const server of servers) server.stop();
  return results;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** 2,000 sequential GETs to a loopback server: connections opened, latency, and the cost of the checks. */
export async function benchFetch(): Promise<void> {
  console.log(
    `\n# fetch: ${REQUESTS} sequential GETs to a loopback server, ${ROUNDS} rounds (interleaved in blocks of ${BLOCK})`,
  );
  const rounds: Measurement[][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const results = await runRound(r);
    rounds.push(results);
    const [ordo, plain] = results as [Measurement, Measurement];
    console.log(
      `round ${r + 1}: ordo/undici total ${round(ordo.totalMs / plain.totalMs)}, p50 ${round(ordo.p50Us / plain.p50Us)}`,
    );
  }
  const results = NAMES.map((name, index) => {
    const of = (key: 'totalMs' | 'p50Us' | 'p99Us') => round(median(rounds.map((r) => r[index]?.[key] ?? 0)));
    return {
      name,
      requestsPerRound: REQUESTS,
      totalMs: of('totalMs'),
      p50Us: of('p50Us'),
      p99Us: of('p99Us'),
      connectionsOpenedPerRound: rounds.map((r) => Number(r[index]?.connectionsOpened ?? 0)),
    };
  });
  // Each round's ratio compares clients that ran side by side; the median of those is the headline.
  const perRound = (key: 'totalMs' | 'p50Us', other: number, over = 0) =>
    rounds.map((r) => round(Number(r[over]?.[key]) / Number(r[other]?.[key])));
  const ratioSeries = {
    'ordo / plain undici (total time)': perRound('totalMs', 1),
    'ordo / plain undici (p50)': perRound('p50Us', 1),
    'ordo / (undici + one loop turn) (total time)': perRound('totalMs', 3),
    'ordo / (undici + one loop turn) (p50)': perRound('p50Us', 3),
    'node:http no keep-alive / ordo (p50)': perRound('p50Us', 0, 2),
  };
  const ratios = Object.fromEntries(
    Object.entries(ratioSeries).map(([name, series]) => [name, round(median(series))]),
  ) as Record<keyof typeof ratioSeries, number>;
  console.table(results);
  const met = {
    total: ratios['ordo / plain undici (total time)'] <= 1.2,
    p50: ratios['ordo / plain undici (p50)'] <= 1.2,
  };
  console.log(
    ratios,
    `target ordo / plain undici <= 1.2: total ${met.total ? 'met' : 'missed'}, p50 ${met.p50 ? 'met' : 'missed'}`,
  );
  await writeResults('fetch', {
    requestsPerRound: REQUESTS,
    rounds: ROUNDS,
    note: 'figures per client are medians over rounds; each round starts fresh clients and one server process per client; connectionsOpenedPerRound counts what the server of each round accepted, warm-up included',
    results,
    ratios,
    ratiosNote: 'median over rounds of each round’s ratio (clients of one round ran interleaved)',
    perRoundRatios: ratioSeries,
    target: { 'ordo / plain undici (total time and p50)': '<= 1.2', met },
  });
}
