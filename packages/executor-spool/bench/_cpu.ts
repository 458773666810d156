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
const restricted = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
const agent = new Agent();
const ops: Record<string, () => Promise<unknown>> = {
  ordo: async () => (await restricted(url)).text(),
  undici: async () => (await fetch(url, { dispatcher: agent })).text(),
  undiciAC: async () => {
    const c = new AbortController();
    return (await fetch(url, { dispatcher: agent, signal: c.signal })).text();
  },
  undiciTimer: async () => {
    const t = setTimeout(() => {}, 30000);
    const r = await (await fetch(url, { dispatcher: agent })).text();
    clearTimeout(t);
    return r;
  },
  undiciManual: async () => (await fetch(url, { dispatcher: agent, redirect: 'manual' })).text(),
  undiciWrap: async () => {
    const response = await fetch(url, { dispatcher: agent });
    const reader = response.body!.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(stream) {
        const { done, value } = await reader.read();
        if (done) { stream.close(); return; }
        stream.enqueue(value);
      },
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers }).text();
  },
  undiciSignal: async () => {
    const c = new AbortController();
    const t = setTimeout(() => c.abort(), 30000);
    const r = await (await fetch(url, { dispatcher: agent, signal: c.signal, redirect: 'manual' })).text();
    clearTimeout(t);
    return r;
  },
};
const n = 1000;
const sums: Record<string, number[]> = {};
for (let round = 0; round < 11; round++)
  for (const [name, op] of Object.entries(ops)) {
    for (let i = 0; i < 50; i++) await op();
    const c0 = process.cpuUsage();
    for (let i = 0; i < n; i++) await op();
    const c = process.cpuUsage(c0);
    (sums[name] ??= []).push((c.user + c.system) / n);
  }
for (const [name, xs] of Object.entries(sums)) console.log(name.padEnd(14), 'cpu us/req median', xs.sort((a, b) => a - b)[5]?.toFixed(1), xs.map((x) => x.toFixed(0)).join(' '));
await restricted.close();
await agent.close();
child.send('stop');
