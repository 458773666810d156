import { fork } from 'node:child_process';
import { once } from 'node:events';
import { get } from 'node:http';
import { Agent, fetch } from 'undici';
import { createRestrictedFetch } from '../src/index.js';
import { interleave, type Measurement, round, writeResults } from './util.js';

const REQUESTS = 2_000;

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

/** 2,000 sequential GETs to a loopback server: connections opened, latency, and the cost of the checks. */
export async function benchFetch(): Promise<void> {
  console.log(`\n# fetch: ${REQUESTS} sequential GETs to a loopback server (interleaved in blocks of 100)`);
  // One server per client, so each server's count is the connections that client opened (warm-up included).
  const servers = await Promise.all([startServer(), startServer(), startServer(), startServer()]);
  const [ordoServer, plainServer, httpServer, turnServer] = servers;
  await using restricted = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
  const plainAgent = new Agent();
  const measured = await interleave(
    [
      { name: 'ordo restricted fetch', op: async () => (await restricted(ordoServer.url)).text() },
      {
        name: 'undici fetch (plain Agent)',
        op: async () => (await fetch(plainServer.url, { dispatcher: plainAgent })).text(),
      },
      { name: 'node:http, no keep-alive', op: () => getWithoutKeepAlive(httpServer.url) },
      {
        // What ordo does to keep one socket: wait the turn undici takes before reusing it.
        name: 'undici fetch + one loop turn',
        op: async () => {
          const text = await (await fetch(turnServer.url, { dispatcher: plainAgent })).text();
          await new Promise((resolve) => setImmediate(resolve));
          return text;
        },
      },
    ],
    REQUESTS,
    100,
  );
  await plainAgent.close();
  const results: Measurement[] = [];
  for (const [index, m] of measured.entries()) {
    results.push({ ...m, connectionsOpened: await servers[index]?.connections() });
  }
  for (const server of servers) server.stop();
  const [ordo, plain, noKeepAlive, turn] = results as [Measurement, Measurement, Measurement, Measurement];
  const ratios = {
    'ordo / (undici + one loop turn) (total time)': round(ordo.totalMs / turn.totalMs),
    'ordo / plain undici (total time)': round(ordo.totalMs / plain.totalMs),
    'ordo / plain undici (p50)': round(ordo.p50Us / plain.p50Us),
    'node:http no keep-alive / ordo (p50)': round(noKeepAlive.p50Us / ordo.p50Us),
  };
  console.table(results);
  const met = ratios['ordo / plain undici (total time)'] <= 1.2;
  console.log(ratios, `target: ordo / plain undici <= 1.2 → ${met ? 'met' : 'missed'}`);
  await writeResults('fetch', {
    requests: REQUESTS,
    note: 'each client has its own server process; connectionsOpened counts what it accepted, warm-up included',
    results,
    ratios,
    target: { 'ordo / plain undici (total time)': '<= 1.2', met },
  });
}
