// Profiling aid, not a benchmark: `node --cpu-prof --import tsx --conditions=@ordo/source bench/profileFetch.ts [ordo|undici]`.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { Agent, fetch } from 'undici';
import { createRestrictedFetch } from '../src/index.js';

const SERVER = `
const server = require('node:http').createServer((_req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
process.on('message', () => process.exit(0));
`;
const child = fork('-e', [SERVER], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const [{ port }] = (await once(child, 'message')) as [{ port: number }];
const url = `http://127.0.0.1:${port}/`;
const which = process.argv[2] ?? 'ordo';
const restricted = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
const agent = new Agent();
const op =
  which === 'ordo'
    ? async () => (await restricted(url)).text()
    : async () => (await fetch(url, { dispatcher: agent })).text();
const n = Number(process.argv[3] ?? 2000);
const t = performance.now();
for (let i = 0; i < n; i++) await op();
console.log(which, n, 'GETs', (performance.now() - t).toFixed(0), 'ms');
await restricted.close();
await agent.close();
child.send('stop');
