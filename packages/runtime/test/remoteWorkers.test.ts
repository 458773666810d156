import { readFile, rm, stat } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { IPC_PROTOCOL_VERSION, LineSplitter } from '@ordo/contracts';
import { killProcess, ManualClock } from '@ordo/contracts/testing';
import { openWorkerConnection } from '@ordo/launcher';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createRuntime, type FeatureEvent, type PlanInput, type Runtime } from '../src/index.js';
import { waitForPid } from './helpers/files.js';
import { eventWaiter, fixture, readTree, tempWorkspace } from './helpers/workspace.js';
import { type OrdoProcess, startOrdo } from './support/ordoProcess.js';

const tasks = fixture('tasks.mjs');
const processes: OrdoProcess[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await Promise.all(
    processes.splice(0).map(async (p) => {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }),
  );
});

/** Starts `ordo worker --connect <url> --token-file <file>` as a real process. */
function startWorker(runtime: Runtime, cwd: string, extra: readonly string[] = []): OrdoProcess {
  const endpoint = runtime.workerEndpoint;
  if (endpoint === undefined) throw new Error('no endpoint');
  const worker = startOrdo(
    ['worker', '--connect', endpoint.url, '--token-file', endpoint.tokenFile, ...extra],
    cwd,
  );
  processes.push(worker);
  return worker;
}

/** Waits until `n` workers wait at the endpoint (connected, authenticated, no spawn yet). */
async function waitForWaiting(runtime: Runtime, n: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((runtime.workerEndpoint?.stats().waiting ?? 0) >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`fewer than ${n} workers connected`);
}

/** A plan of independent shell tasks plus one module task that hangs until its worker is killed. */
function crashPlan(pidFile: string): PlanInput {
  return {
    feature: 'remote-crash',
    seed: 7,
    tasks: [
      {
        id: 'victim',
        priority: 'HIGH',
        files: [],
        run: { module: tasks, export: 'hang', input: { pidFile } },
      },
      ...Array.from({ length: 6 }, (_, i) => ({
        id: `t${i}`,
        deps: i >= 3 ? [`t${i - 3}`] : [],
        files: [`out/${i}.txt`, ...(i >= 3 ? [`out/${i - 3}.txt`] : [])],
        run: {
          shell: `mkdir -p out; { echo t${i}; ${i >= 3 ? `cat out/${i - 3}.txt;` : ''} } > out/${i}.txt`,
        },
      })),
    ],
  };
}

/** Runs `plan`, kills the worker process of the victim once it started, and returns the result. */
async function runKillingVictim(runtime: Runtime, plan: PlanInput, pidFile: string) {
  const waiter = eventWaiter<FeatureEvent>();
  const run = runtime.runFeature(plan, { onEvent: waiter.onEvent });
  await waiter.next((e) => e.type === 'task-start' && e.taskId === 'victim');
  const pid = await waitForPid(pidFile, 10_000);
  killProcess(pid);
  return run;
}

describe('remote workers (ordo worker --connect on loopback)', () => {
  it('3 connected workers run a feature; one killed mid-task: the run completes with the subprocess run digest', async () => {
    const pidDir = await tempDir('ordo-remote-pid-');
    const pidFile = path.join(pidDir, 'pid');
    const plan = crashPlan(pidFile);

    const localWs = await tempWorkspace();
    const local = await (async () => {
      await using runtime = await createRuntime({ workspace: localWs, workers: 3 });
      return await runKillingVictim(runtime, plan, pidFile);
    })();
    await rm(pidFile, { force: true });

    const remoteWs = await tempWorkspace();
    const sockDir = await tempDir('ordo-remote-sock-');
    await using runtime = await createRuntime({
      workspace: remoteWs,
      workers: { count: 3, remote: { listen: `unix://${path.join(sockDir, 'workers.sock')}` } },
    });
    const workers = [0, 1, 2].map(() => startWorker(runtime, remoteWs));
    await waitForWaiting(runtime, 3);
    const remote = await runKillingVictim(runtime, plan, pidFile);

    expect(local.tasks.find((t) => t.id === 'victim')).toMatchObject({
      status: 'failed',
      error: { code: 'WORKER_CRASHED' },
    });
    expect(remote.tasks.find((t) => t.id === 'victim')).toMatchObject({
      status: 'failed',
      error: { code: 'WORKER_CRASHED' },
    });
    expect(local.tasks.filter((t) => t.status === 'committed')).toHaveLength(6);
    expect(remote.tasks.filter((t) => t.status === 'committed')).toHaveLength(6);
    expect(remote.traceDigest).toBe(local.traceDigest);
    expect(await readTree(remoteWs)).toEqual(await readTree(localWs));
    // The killed one is gone; the two others are still connected and serve the next feature.
    const killed = workers.filter((w) => w.child.signalCode === 'SIGKILL');
    expect(killed).toHaveLength(1);
    const again = await runtime.runFeature({
      feature: 'after-crash',
      tasks: [{ id: 'a', files: ['after.txt'], run: { shell: 'echo after > after.txt' } }],
    });
    expect(again.status).toBe('succeeded');
    // Where each worker ran is in the state file: `ordo status` shows it.
    const { hostname } = await import('node:os');
    const status = startOrdo(['status', '--json'], remoteWs);
    processes.push(status);
    expect((await status.exited).code).toBe(0);
    const shown = JSON.parse(status.stdout()) as {
      workers: { workerId: string; node?: string }[];
    };
    // The two live workers; the killed one's replacement waits for a worker that never comes (no node).
    const placed = shown.workers.filter((w) => w.node !== undefined);
    expect(placed.length).toBe(2);
    for (const w of placed) expect(w.node).toBe(hostname());
    const view = startOrdo(['status'], remoteWs);
    processes.push(view);
    await view.exited;
    expect(view.stdout()).toMatch(/Node/);
    const stats = runtime.workerEndpoint?.stats();
    expect(stats?.accepted).toBeGreaterThanOrEqual(3);
    expect(Object.values(stats?.refused ?? {}).every((n) => n === 0)).toBe(true);
  }, 120_000);

  it('refuses a wrong token, a missing token, another version, a slow-loris peer and an oversized HELLO, counts each, and the run is unaffected', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: { count: 1, remote: { listen: '127.0.0.1:0', handshakeTimeoutMs: 2_000 } },
    });
    const endpoint = runtime.workerEndpoint;
    if (!endpoint) throw new Error('no endpoint');
    startWorker(runtime, ws);
    await waitForWaiting(runtime, 1);
    const token = (await readFile(endpoint.tokenFile, 'utf8')).trim();
    const port = Number(new URL(endpoint.url.replace('tcp:', 'http:')).port);

    const waiter = eventWaiter<FeatureEvent>();
    const gate = path.join(await tempDir('ordo-remote-gate-'), 'open');
    const run = runtime.runFeature(
      {
        feature: 'under-attack',
        tasks: [
          {
            id: 'g',
            files: ['g.txt'],
            run: { module: tasks, export: 'gated', input: { gate, path: 'g.txt', content: 'g\n' } },
          },
          { id: 'h', deps: ['g'], files: ['h.txt'], run: { shell: 'echo h > h.txt' } },
        ],
      },
      { onEvent: waiter.onEvent },
    );
    await waiter.next((e) => e.type === 'task-start');

    const hello = (fields: Record<string, unknown>) => `${JSON.stringify({ type: 'HELLO', ...fields })}\n`;
    const answers = await Promise.all([
      rawExchange(port, hello({ v: IPC_PROTOCOL_VERSION, token: 'x'.repeat(43) })),
      rawExchange(port, hello({ v: IPC_PROTOCOL_VERSION })),
      rawExchange(port, hello({ v: 2, token })),
      rawExchange(port, '{"type":"HE'),
      rawExchange(port, `${JSON.stringify({ type: 'HELLO', v: 1, token, pad: 'x'.repeat(10_000) })}\n`),
      rawExchange(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    ]);
    expect(answers.map((a) => a.reply)).toEqual([
      { type: 'REFUSED', reason: 'bad-token' },
      { type: 'REFUSED', reason: 'missing-token' },
      { type: 'REFUSED', reason: 'version' },
      { type: 'REFUSED', reason: 'timeout' },
      { type: 'REFUSED', reason: 'oversized' },
      { type: 'REFUSED', reason: 'malformed' },
    ]);
    // Nothing but the refusal was sent: no WELCOME, no RUN, no file content.
    for (const a of answers) expect(a.lines).toHaveLength(1);
    const refused = endpoint.stats().refused;
    expect(refused).toMatchObject({
      'bad-token': 1,
      'missing-token': 1,
      version: 1,
      timeout: 1,
      oversized: 1,
      malformed: 1,
    });
    const text = await runtime.metricsText();
    expect(text).toMatch(/ordo_worker_endpoint_refusals_total\{reason="bad-token"\} 1/);
    expect(text).toMatch(/ordo_worker_endpoint_refusals_total\{reason="timeout"\} 1/);
    // The connected worker, with where it runs (the host name it reported, its address).
    expect(text).toMatch(
      /ordo_worker_endpoint_worker_info\{worker_id="[^"]+",node="[^"]+",hostname="[^"]+",address="127\.0\.0\.1"\} 1/,
    );

    const { writeFile } = await import('node:fs/promises');
    await writeFile(gate, '');
    const result = await run;
    expect(result.status).toBe('succeeded');
    expect(await readTree(ws)).toEqual({ 'g.txt': 'g\n', 'h.txt': 'h\n' });
  }, 60_000);

  it('a connected worker cannot claim a task it was not given nor commit outside its files', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: { count: 2, remote: { listen: '127.0.0.1:0' } },
    });
    const endpoint = runtime.workerEndpoint;
    if (!endpoint) throw new Error('no endpoint');
    const token = (await readFile(endpoint.tokenFile, 'utf8')).trim();
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    // A hostile worker with the right token: answers every RUN with COMPLETEs for every other task (with
    // poisoned edits) and, for its own, an edit outside the task's declared files.
    // It connects first, so it is the first worker the pool gets.
    const hostileJoined = openWorkerConnection({ url: endpoint.url, token });
    await waitForWaiting(runtime, 1);
    startWorker(runtime, ws);
    await waitForWaiting(runtime, 2);
    const run = runtime.runFeature({
      feature: 'hostile',
      tasks: ids.map((id) => ({ id, files: [`${id}.txt`], run: { shell: `echo ${id} > ${id}.txt` } })),
    });
    const hostile = await hostileJoined;
    sockets.push(hostile.socket);
    const send = (m: object) => hostile.socket.write(`${JSON.stringify(m)}\n`);
    const runs: string[] = [];
    const splitter = new LineSplitter((line) => {
      const m = JSON.parse(line) as { type: string; taskId?: string };
      if (m.type !== 'RUN' || m.taskId === undefined) return;
      runs.push(m.taskId);
      const poison = (p: string) => ({
        status: 'ok',
        edits: [{ path: p, content: { data: 'pwned\n', encoding: 'utf8' } }],
      });
      for (const other of ids)
        if (other !== m.taskId) send({ type: 'COMPLETE', taskId: other, result: poison(`${other}.txt`) });
      // Its first task writes outside the workspace, the others an undeclared file inside it.
      send({
        type: 'COMPLETE',
        taskId: m.taskId,
        result: poison(runs.length === 1 ? '../escape.txt' : 'undeclared.txt'),
      });
    });
    hostile.socket.on('data', (chunk: Buffer) => splitter.push(chunk));
    hostile.socket.resume();
    send({ type: 'READY', v: 1, pid: 1 });
    const result = await run;
    expect(runs.length).toBeGreaterThan(0);
    const tree = await readTree(ws);
    for (const task of result.tasks) {
      if (runs.includes(task.id)) {
        const code = runs.indexOf(task.id) === 0 ? 'SPOOL_PATH_ESCAPE' : 'SPOOL_VALIDATION_FAILED';
        expect(task).toMatchObject({ status: 'failed', error: { code } });
        expect(tree[`${task.id}.txt`]).toBeUndefined();
      } else {
        expect(task.status).toBe('committed');
        expect(tree[`${task.id}.txt`]).toBe(`${task.id}\n`);
      }
    }
    expect(JSON.stringify(tree)).not.toContain('pwned');
    expect(tree['undeclared.txt']).toBeUndefined();
    await expect(readFile(path.join(path.dirname(ws), 'escape.txt'))).rejects.toThrow();
  }, 60_000);

  it("tls: 'auto' makes a CA: a worker with the files it wrote runs tasks over mutual TLS; no certificate, or the CA alone, is refused", async () => {
    const ws = await tempWorkspace();
    const runtime = await createRuntime({
      workspace: ws,
      workers: { count: 1, remote: { listen: 'tls://127.0.0.1:0', tls: 'auto' } },
    });
    const endpoint = runtime.workerEndpoint;
    const files = endpoint?.tlsFiles;
    expect(endpoint?.url).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    if (files === undefined) throw new Error('no TLS files');
    for (const file of [files.ca, files.cert, files.key]) {
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    }
    // Without a client certificate (only the CA, to trust the endpoint): refused at the TLS layer.
    const noCert = startWorker(runtime, ws, ['--tls-ca', files.ca, '--max-attempts', '1']);
    expect((await noCert.exited).code).toBe(1);
    expect(endpoint?.stats().refused.tls).toBeGreaterThanOrEqual(1);
    expect(endpoint?.stats().accepted).toBe(0);
    // The files through the environment, as a starter hands them to the workers it starts.
    const worker = startOrdo(
      ['worker', '--connect', endpoint?.url as string, '--token-file', endpoint?.tokenFile as string],
      ws,
      { ORDO_WORKER_TLS_CA: files.ca, ORDO_WORKER_TLS_CERT: files.cert, ORDO_WORKER_TLS_KEY: files.key },
    );
    processes.push(worker);
    await waitForWaiting(runtime, 1);
    const result = await runtime.runFeature({
      feature: 'over-tls',
      tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
    });
    expect(result.status).toBe('succeeded');
    expect(await readFile(path.join(ws, 'a.txt'), 'utf8')).toBe('a\n');
    await runtime.close();
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    // close() removes the credential it wrote.
    await expect(stat(files.key)).rejects.toMatchObject({ code: 'ENOENT' });
  }, 60_000);

  it('a worker that joins after the startup limit is no failed start: it runs the tasks and no restart is counted', async () => {
    const ws = await tempWorkspace();
    const sockDir = await tempDir('ordo-remote-sock-');
    const clock = new ManualClock(Date.now());
    await using runtime = await createRuntime({
      workspace: ws,
      clock,
      config: { workers: { maxRestartsPerHour: 1 } },
      workers: { count: 1, remote: { listen: path.join(sockDir, 'w.sock') } },
    });
    const run = runtime.runFeature({
      feature: 'late',
      tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
    });
    // The pool asked the endpoint for a worker; nobody has joined for well past the 30 s startup limit.
    await vi.waitFor(() => expect(runtime.workerEndpoint?.stats().pending).toBe(1), { timeout: 10_000 });
    for (let i = 0; i < 4; i++) clock.advance(31_000);
    const worker = startWorker(runtime, ws);
    const result = await run;
    expect(result.status, worker.stderr()).toBe('succeeded');
    expect(await runtime.metricsText()).toMatch(/ordo_runtime_worker_crashes_total 0/);
    expect(runtime.workerEndpoint?.stats()).toMatchObject({ accepted: 1, connected: 1 });
  }, 60_000);

  it('a worker exits cleanly when the host shuts down', async () => {
    const ws = await tempWorkspace();
    const sockDir = await tempDir('ordo-remote-sock-');
    const runtime = await createRuntime({
      workspace: ws,
      workers: { count: 1, remote: { listen: path.join(sockDir, 'w.sock') } },
    });
    const worker = startWorker(runtime, ws);
    await waitForWaiting(runtime, 1);
    const result = await runtime.runFeature({
      feature: 'one',
      tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
    });
    expect(result.status).toBe('succeeded');
    await runtime.close();
    expect(await worker.exited).toEqual({ code: 0, signal: null });
    expect(worker.stderr()).toMatch(/stopped \(shutdown\)/);
  }, 60_000);

  it('a worker with a wrong credential file exits 1 with REMOTE_REFUSED', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({
      workspace: ws,
      workers: { count: 1, remote: { listen: '127.0.0.1:0' } },
    });
    const bad = path.join(await tempDir('ordo-remote-bad-'), 'token');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(bad, 'not-the-runtime-token-at-all\n');
    const worker = startOrdo(
      ['worker', '--connect', runtime.workerEndpoint?.url ?? '', '--token-file', bad],
      ws,
    );
    processes.push(worker);
    expect((await worker.exited).code).toBe(1);
    expect(worker.stderr()).toMatch(/error REMOTE_REFUSED: .*bad-token/);
    expect(runtime.workerEndpoint?.stats().refused['bad-token']).toBe(1);
  }, 60_000);
});

/** Connects to 127.0.0.1:`port`, writes `data`, and collects what comes back until the host closes. */
function rawExchange(port: number, data: string): Promise<{ reply: unknown; lines: string[] }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('close', () => {
      const lines = text.split('\n').filter((l) => l !== '');
      resolve({ reply: lines[0] === undefined ? undefined : JSON.parse(lines[0]), lines });
    });
    // Left open after: the host must close it (a slow-loris peer never finishes its HELLO).
    socket.write(data);
  });
}

describe('ordo run --worker-listen', () => {
  it('runs a plan on workers that were started first and join once the endpoint is up', async () => {
    const gates = await tempDir('ordo-remote-gates-');
    // a and b wait for each other: the run needs both workers at once.
    const meet = (me: string, other: string) =>
      `touch ${gates}/${me}; while [ ! -f ${gates}/${other} ]; do sleep 0.05; done; echo ${me} > ${me}.txt`;
    const ws = await tempWorkspace({
      'plan.json': JSON.stringify({
        feature: 'cli-remote',
        tasks: [
          { id: 'a', files: ['a.txt'], run: { shell: meet('a', 'b') } },
          { id: 'b', files: ['b.txt'], run: { shell: meet('b', 'a') } },
          {
            id: 'c',
            deps: ['a', 'b'],
            files: ['a.txt', 'b.txt', 'c.txt'],
            run: { shell: 'cat a.txt b.txt > c.txt' },
          },
        ],
      }),
    });
    const dir = await tempDir('ordo-remote-cli-');
    const sock = path.join(dir, 'w.sock');
    const tokenFile = path.join(dir, 'token');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(tokenFile, 'a-token-made-by-the-operator-0123\n', { mode: 0o600 });
    // The workers come first: they retry (with backoff) until the endpoint listens.
    const workers = [0, 1].map(() => {
      const w = startOrdo(['worker', '--connect', `unix://${sock}`, '--token-file', tokenFile], ws);
      processes.push(w);
      return w;
    });
    const run = startOrdo(
      [
        'run',
        'plan.json',
        '--workers',
        '2',
        '--worker-listen',
        sock,
        '--worker-token-file',
        tokenFile,
        '--json',
      ],
      ws,
    );
    processes.push(run);
    const outputs = () =>
      [run, ...workers].map((p) => `--- ${p.child.pid}\n${p.stdout()}\n${p.stderr()}`).join('\n');
    const timer = setTimeout(() => console.error(`still waiting:\n${outputs()}`), 40_000);
    expect(await run.exited, outputs()).toEqual({ code: 0, signal: null });
    expect(JSON.parse(run.stdout())).toMatchObject({ status: 'succeeded' });
    expect(run.stderr()).toContain(`ordo worker --connect unix://${sock} --token-file ${tokenFile}`);
    expect(await readTree(ws)).toMatchObject({ 'a.txt': 'a\n', 'b.txt': 'b\n', 'c.txt': 'a\nb\n' });
    for (const w of workers) expect(await w.exited, outputs()).toEqual({ code: 0, signal: null });
    clearTimeout(timer);
    // The operator's credential file stays.
    expect(await readFile(tokenFile, 'utf8')).toBe('a-token-made-by-the-operator-0123\n');
  }, 60_000);

  it('--worker-tls-auto: the printed join command carries the CA and worker files, and a worker started with it runs the plan', async () => {
    const ws = await tempWorkspace({
      'plan.json': JSON.stringify({
        feature: 'cli-tls',
        tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
      }),
    });
    const run = startOrdo(
      ['run', 'plan.json', '--workers', '1', '--worker-listen', '127.0.0.1:0', '--worker-tls-auto', '--json'],
      ws,
    );
    processes.push(run);
    let join: RegExpMatchArray | null = null;
    for (let i = 0; i < 600 && join === null; i++) {
      join = run
        .stderr()
        .match(/workers join with: ordo (worker --connect tls:\/\/127\.0\.0\.1:\d+ .*--tls-key \S+)/);
      if (join === null) await new Promise((r) => setTimeout(r, 50));
    }
    expect(join, run.stderr()).not.toBeNull();
    const argv = (join?.[1] as string).split(' ');
    for (const flag of ['--token-file', '--tls-ca', '--tls-cert', '--tls-key']) expect(argv).toContain(flag);
    const worker = startOrdo(argv, ws);
    processes.push(worker);
    expect(await run.exited, `${run.stderr()}\n${worker.stderr()}`).toEqual({ code: 0, signal: null });
    expect(JSON.parse(run.stdout())).toMatchObject({ status: 'succeeded' });
    expect(await readFile(path.join(ws, 'a.txt'), 'utf8')).toBe('a\n');
    expect(await worker.exited).toEqual({ code: 0, signal: null });
  }, 60_000);

  it('refuses --worker-tls-auto with TLS files, or without --worker-listen, as a usage error', async () => {
    const ws = await tempWorkspace({ 'plan.json': JSON.stringify({ feature: 'x', tasks: [] }) });
    for (const extra of [
      ['--worker-listen', '127.0.0.1:0', '--worker-tls-auto', '--worker-tls-ca', 'ca.pem'],
      ['--worker-tls-auto'],
    ]) {
      const run = startOrdo(['run', 'plan.json', ...extra], ws);
      processes.push(run);
      expect((await run.exited).code, run.stderr()).toBe(2);
      expect(run.stderr()).toMatch(/--worker-tls-auto|--worker-listen/);
    }
  }, 60_000);
});
