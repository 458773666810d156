import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { systemClock } from '@ordo/contracts';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { tempDir } from '../../../vitest.tempDirs.js';
import { createHttpHandler, type HttpHandlerParts } from '../src/http.js';
import { createRuntime, type PlanInput, type Runtime } from '../src/index.js';
import { EventHub, type LiveEvent, MAX_SUBSCRIBERS } from '../src/internal/eventHub.js';
import { STATUS_PAGE_HTML } from '../src/internal/statusPage.js';
import { closeServer, listen } from './helpers/httpServer.js';
import { tempWorkspace } from './helpers/workspace.js';

/** The little of the DOM the page functions below use: they run in chromium, not in Node. */
interface BrowserElement {
  readonly textContent: string | null;
  querySelector(selector: string): BrowserElement | null;
  querySelectorAll(selector: string): ArrayLike<BrowserElement>;
}
declare const document: BrowserElement;

/** Debian's chromium; CI installs it, so there the browser tests must run. */
const CHROMIUM = '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM) || process.env.CI === 'true';
/** Where the screenshot goes: the package's test output, which CI keeps. */
const SCREENSHOT = fileURLToPath(new URL('../.vitest-reports/status-page.png', import.meta.url));

/** Reads server-sent events from `url` until `until` says stop; returns them as { event, data }. */
async function readEvents(url: string, until: (events: { event: string; data: unknown }[]) => boolean) {
  const abort = new AbortController();
  const response = await fetch(url, { signal: abort.signal });
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events: { event: string; data: unknown }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) });
      }
      if (until(events)) break;
    }
  } finally {
    abort.abort();
  }
  return events;
}

describe('the live status page', () => {
  it('is one small document, under 50 KB gzipped, with no external resource', () => {
    expect(gzipSync(STATUS_PAGE_HTML).length).toBeLessThan(50 * 1024);
    expect(STATUS_PAGE_HTML).not.toMatch(/<script[^>]+src=|<link[^>]+href=|https?:\/\//);
    expect(STATUS_PAGE_HTML).toMatch(/<html lang="en">/);
    // Values go in as text only.
    expect(STATUS_PAGE_HTML).not.toMatch(/innerHTML|insertAdjacentHTML|document\.write/);
  });

  it('serves the page at / and the runtime events at /events: the latest run so far, then live', async () => {
    const ws = await tempWorkspace();
    await using runtime = await createRuntime({ workspace: ws, workers: 1 });
    const server = createServer(runtime.httpHandler());
    const base = await listen(server);
    try {
      const page = await fetch(`${base}/`);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
      expect(await page.text()).toBe(STATUS_PAGE_HTML);
      await runtime.runFeature({
        feature: 'streamed',
        tasks: [{ id: 'a', files: ['a.txt'], run: { shell: 'echo a > a.txt' } }],
      });
      // A page opened after the run still gets the whole run, in order.
      const events = await readEvents(`${base}/events`, (all) =>
        all.some((e) => (e.data as { type?: string }).type === 'feature-end'),
      );
      const types = events.filter((e) => e.event === 'feature').map((e) => (e.data as { type: string }).type);
      expect(types[0]).toBe('feature-start');
      expect(types).toContain('task-committed');
      expect(types.at(-1)).toBe('feature-end');
      const end = events.at(-1)?.data as { traceDigest: string };
      expect(end.traceDigest).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await closeServer(server);
    }
  });

  it('ends every open event stream when the runtime closes, and refuses streams past the cap', async () => {
    const ws = await tempWorkspace();
    const runtime = await createRuntime({ workspace: ws, workers: 1 });
    const server = createServer(runtime.httpHandler());
    const base = await listen(server);
    try {
      const response = await fetch(`${base}/events`);
      const reader = (response.body as ReadableStream<Uint8Array>).getReader();
      await reader.read(); // the retry line: the stream is open
      await runtime.close();
      // The stream ends (done) instead of staying open for ever.
      for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {}
    } finally {
      await closeServer(server);
      await runtime.close();
    }
  });

  it('cuts off a client that stops reading, and answers 503 past the stream cap', async () => {
    const hub = new EventHub();
    // Only /events is asked for: it needs the hub and a clock.
    const handler = createHttpHandler({ events: hub, clock: systemClock } as unknown as HttpHandlerParts);
    const server = createServer(handler);
    const base = await listen(server);
    const { port } = new URL(base);
    try {
      // A raw client that sends the request and then never reads a byte.
      const socket = connect(Number(port), '127.0.0.1');
      socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      socket.pause();
      await vi.waitFor(() => expect(hub.size).toBe(1), { timeout: 10_000 });
      const big = {
        kind: 'feature',
        event: { type: 'task-failed', message: 'x'.repeat(10_000) },
      } as unknown as LiveEvent;
      // 40 MB of events: far past what the socket buffers and the 4 MiB limit hold.
      for (let i = 0; i < 4_000 && hub.size > 0; i++) {
        hub.publish(big);
        if (i % 50 === 0) await nextTurn();
      }
      expect(hub.size).toBe(0);
      socket.destroy();

      const open = Array.from({ length: MAX_SUBSCRIBERS }, () => hub.subscribe(() => {}));
      const refused = await fetch(`${base}/events`);
      expect(refused.status).toBe(503);
      expect(await refused.json()).toMatchObject({
        error: expect.stringMatching(/Too many open event streams/),
      });
      for (const unsubscribe of open) unsubscribe?.();
    } finally {
      await closeServer(server);
    }
  });

  it('the hub keeps the run start and its newest events, and forgets a subscriber that left', () => {
    const hub = new EventHub();
    const feature = (type: string, extra: Record<string, unknown> = {}) =>
      ({ kind: 'feature', event: { type, ...extra } }) as unknown as LiveEvent;
    hub.publish(feature('feature-start', { feature: 'big' }));
    for (let i = 0; i < 60_000; i++) hub.publish(feature('task-start', { taskId: `t${i}` }));
    hub.publish(feature('feature-end', { feature: 'big' }));
    const kept = hub.snapshot().map((e) => (e.kind === 'feature' ? e.event : undefined));
    expect(kept[0]?.type).toBe('feature-start');
    expect(kept.at(-1)?.type).toBe('feature-end');
    expect(kept.length).toBeLessThanOrEqual(50_001);
    const seen: LiveEvent[] = [];
    const unsubscribe = hub.subscribe((e) => seen.push(e));
    expect(hub.size).toBe(1);
    unsubscribe?.();
    expect(hub.size).toBe(0);
    hub.publish(feature('feature-start'));
    expect(seen).toEqual([]);
    const many = Array.from({ length: MAX_SUBSCRIBERS }, () => hub.subscribe(() => {}));
    expect(many.every((u) => u !== undefined)).toBe(true);
    expect(hub.subscribe(() => {})).toBeUndefined();
    let closed = 0;
    const last = new EventHub();
    last.subscribe(
      () => {},
      () => closed++,
    );
    last.close();
    last.close();
    expect(closed).toBe(1);
    expect(last.size).toBe(0);
  });

  describe.skipIf(!haveBrowser)('in a real browser (Debian chromium, playwright-core)', () => {
    let browser: Browser;
    let runtime: Runtime;
    let server: Server;
    let base: string;
    let gate: string;

    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const ws = await tempWorkspace();
      gate = path.join(await tempDir('ordo-page-gate-'), 'open');
      runtime = await createRuntime({ workspace: ws, workers: 2 });
      server = createServer(runtime.httpHandler());
      base = await listen(server);
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      if (server) await closeServer(server);
      await runtime?.close();
    });

    it("shows the running feature, updates as tasks commit, and shows a failed task's code as text", async () => {
      const plan: PlanInput = {
        feature: 'live-page',
        tasks: [
          {
            id: 'gated',
            files: ['gated.txt'],
            run: { shell: `while [ ! -e '${gate}' ]; do sleep 0.05; done; echo done > gated.txt` },
          },
          {
            id: 'broken',
            files: ['broken.txt'],
            // Markup in the message must show as text, not become an element.
            run: { shell: 'echo "<b id=injected>bold</b> broke" >&2; exit 3' },
          },
          { id: 'after', deps: ['gated'], files: ['after.txt'], run: { shell: 'echo after > after.txt' } },
          // An id that is also an Object.prototype member must still get its row.
          { id: 'constructor', files: ['c.txt'], run: { shell: 'echo c > c.txt' } },
        ],
      };
      const run = runtime.runFeature(plan);
      const page = await browser.newPage();
      try {
        await page.goto(`${base}/`);
        const stateOf = (id: string) =>
          page.evaluate(
            (taskId) =>
              Array.from(document.querySelectorAll('#tasks tbody tr'))
                .find((tr) => tr.querySelector('th')?.textContent === taskId)
                ?.querySelectorAll('td')[1]?.textContent ?? '',
            id,
          );
        const waitForState = async (id: string, pattern: RegExp) => {
          await page.waitForFunction(
            ([taskId, source]) => {
              const tr = Array.from(document.querySelectorAll('#tasks tbody tr')).find(
                (row) => row.querySelector('th')?.textContent === taskId,
              );
              return new RegExp(source as string).test(tr?.querySelectorAll('td')[1]?.textContent ?? '');
            },
            [id, pattern.source],
            { timeout: 30_000 },
          );
        };
        await page.waitForFunction(() => document.querySelector('#f-name')?.textContent === 'live-page');
        await waitForState('gated', /running/);
        expect(await page.textContent('#connection')).toBe('live');
        await waitForState('broken', /failed/);
        const brokenRow = page.locator('#tasks tbody tr', {
          has: page.locator('th', { hasText: /^broken$/ }),
        });
        expect(await brokenRow.locator('code').textContent()).toBe('TASK_FAILED');
        expect(await brokenRow.textContent()).toContain('<b id=injected>bold</b>');
        expect(await page.locator('#injected').count()).toBe(0);
        // States are words and symbols, not colour alone.
        expect(await stateOf('broken')).toBe('✗ failed');

        await writeFile(gate, '');
        await waitForState('gated', /committed/);
        await waitForState('after', /committed/);
        await waitForState('constructor', /committed/);
        await page.waitForFunction(() =>
          /^[0-9a-f]{64}$/.test(document.querySelector('#f-digest')?.textContent ?? ''),
        );
        const result = await run;
        expect(await page.textContent('#f-digest')).toBe(result.traceDigest);
        expect(await page.textContent('#f-state')).toBe(`✗ ${result.status}`);
        await page.waitForFunction(() => document.querySelectorAll('#workers tbody tr').length > 0);
        // Every table has column headers, and each row a row header.
        expect(await page.locator('table thead th[scope="col"]').count()).toBeGreaterThan(15);
        await mkdir(path.dirname(SCREENSHOT), { recursive: true });
        await page.screenshot({ path: SCREENSHOT, fullPage: true });
      } finally {
        await writeFile(gate, '').catch(() => {});
        await page.close();
        await run.catch(() => {});
      }
    }, 90_000);
  });
});
