import { gzipSync } from 'node:zlib';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRestrictedFetch, type FetchTracer, type RestrictedFetchOptions } from '../src/index.js';
import { type Handler, rejection, resolver, startServer } from './fetchSupport.js';

/** The real SDK with an in-memory exporter. */
function memoryTracer() {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  return { exporter, tracer: provider.getTracer('fetch-test') };
}

/** The open response of `/slow`: its first byte is sent, the rest when the test ends it. */
let slow: { end(chunk: string): void } | undefined;

const routes: Handler = (req, res) => {
  if (req.url === '/slow') {
    res.write('a');
    slow = res;
  } else if (req.url === '/missing') {
    res.statusCode = 404;
    res.end('no');
  } else if (req.url === '/moved') {
    res.statusCode = 302;
    res.setHeader('location', '/hello');
    res.end();
  } else if (req.url === '/big') {
    res.end('x'.repeat(1000));
  } else if (req.url === '/big-gzip') {
    res.setHeader('content-encoding', 'gzip');
    res.end(gzipSync('y'.repeat(1000)));
  } else res.end('hello');
};

function traced(tracer: FetchTracer, options: RestrictedFetchOptions = {}) {
  return createRestrictedFetch({
    allow: ['api.test'],
    allowPrivate: ['api.test'],
    resolve: resolver({ 'api.test': '127.0.0.1' }).resolve,
    tracer,
    ...options,
  });
}

const only = (spans: ReadableSpan[]) => {
  expect(spans).toHaveLength(1);
  return spans[0] as ReadableSpan;
};

describe('createRestrictedFetch: OpenTelemetry spans (real SDK, in-memory exporter)', () => {
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  });
  afterAll(() => {
    context.disable();
  });

  it('makes one client span per fetch with the HTTP attributes', async () => {
    await using server = await startServer(routes);
    const { exporter, tracer } = memoryTracer();
    await using fetch = traced(tracer);
    const response = await fetch(`http://api.test:${server.port}/hello?q=1`, { method: 'post' });
    expect(await response.text()).toBe('hello');
    const span = only(exporter.getFinishedSpans());
    expect(span.name).toBe('POST');
    expect(span.kind).toBe(2); // SpanKind.CLIENT
    expect(span.attributes).toEqual({
      'http.request.method': 'POST',
      'url.full': `http://api.test:${server.port}/hello?q=1`,
      'server.address': 'api.test',
      'server.port': server.port,
      'http.response.status_code': 200,
    });
    expect(span.status.code).toBe(0); // UNSET
  });

  it('ends the span when the whole body has arrived, not with the headers', async () => {
    await using server = await startServer(routes);
    const { exporter, tracer } = memoryTracer();
    await using fetch = traced(tracer);
    const response = await fetch(`http://api.test:${server.port}/slow`);
    const text = response.text();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(exporter.getFinishedSpans()).toEqual([]);
    slow?.end('b');
    expect(await text).toBe('ab');
    expect(only(exporter.getFinishedSpans()).attributes['http.response.status_code']).toBe(200);
  });

  it('is a child of the active span, so a fetch inside a task nests under the task', async () => {
    await using server = await startServer(routes);
    const { exporter, tracer } = memoryTracer();
    await using fetch = traced(tracer);
    await tracer.startActiveSpan('task-work', async (parent) => {
      await (await fetch(`http://api.test:${server.port}/hello`)).text();
      parent.end();
    });
    const spans = exporter.getFinishedSpans();
    const parent = spans.find((s) => s.name === 'task-work') as ReadableSpan;
    const child = spans.find((s) => s.name === 'GET') as ReadableSpan;
    expect(child.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(child.spanContext().traceId).toBe(parent.spanContext().traceId);
    // Outside any span, a fetch is a root span.
    await (await fetch(`http://api.test:${server.port}/hello`)).text();
    expect(exporter.getFinishedSpans().at(-1)?.parentSpanContext).toBeUndefined();
  });

  it('marks a 4xx response an error by its status, and counts the redirects it followed', async () => {
    await using server = await startServer(routes);
    const { exporter, tracer } = memoryTracer();
    await using fetch = traced(tracer);
    await (await fetch(`http://api.test:${server.port}/missing`)).text();
    await (await fetch(`http://api.test:${server.port}/moved`)).text();
    const [missing, moved] = exporter.getFinishedSpans();
    expect(missing?.attributes).toMatchObject({ 'http.response.status_code': 404, 'error.type': '404' });
    expect(missing?.status.code).toBe(2); // ERROR
    expect(moved?.attributes).toMatchObject({ 'http.response.status_code': 200, 'ordo.fetch.redirects': 1 });
    expect(moved?.attributes['error.type']).toBeUndefined();
  });

  it('ends the span of a refused fetch with its ordo code, and never shows credentials', async () => {
    await using server = await startServer(routes);
    const { exporter, tracer } = memoryTracer();
    await using fetch = traced(tracer);
    const error = await rejection(fetch('http://user:secret@evil.test/x'));
    expect(error.code).toBe('FETCH_URL_NOT_ALLOWED');
    const span = only(exporter.getFinishedSpans());
    expect(span.attributes).toMatchObject({
      'error.type': 'FETCH_URL_NOT_ALLOWED',
      'url.full': 'http://REDACTED:REDACTED@evil.test/x',
    });
    expect(JSON.stringify(span.attributes)).not.toContain('secret');
    expect(span.status).toMatchObject({ code: 2, message: error.message });
    const aborted = new AbortController();
    aborted.abort(new Error('host shutdown'));
    await rejection(fetch(`http://api.test:${server.port}/hello`, { signal: aborted.signal }));
    expect(exporter.getFinishedSpans().at(-1)?.attributes['error.type']).toBe('Error');
  });

  it('records a body past maxBodyBytes, plain or content-encoded, as FETCH_BODY_TOO_LARGE', async () => {
    await using server = await startServer(routes);
    const { exporter, tracer } = memoryTracer();
    await using fetch = traced(tracer, { maxBodyBytes: 100 });
    for (const route of ['/big', '/big-gzip']) {
      const read = fetch(`http://api.test:${server.port}${route}`).then((response) => response.text());
      expect((await rejection(read)).code).toBe('FETCH_BODY_TOO_LARGE');
    }
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.attributes['error.type'])).toEqual([
      'FETCH_BODY_TOO_LARGE',
      'FETCH_BODY_TOO_LARGE',
    ]);
    for (const span of spans) expect(span.status.code).toBe(2);
  });

  it('fetches as before when the tracer or its spans throw', async () => {
    await using server = await startServer(routes);
    const throwing: FetchTracer = {
      startSpan() {
        throw new Error('tracer broken');
      },
    };
    const brokenSpans: FetchTracer = {
      startSpan: () => ({
        setAttribute() {
          throw new Error('span broken');
        },
        setStatus() {
          throw new Error('span broken');
        },
        end() {
          throw new Error('span broken');
        },
      }),
    };
    for (const tracer of [throwing, brokenSpans]) {
      await using fetch = traced(tracer);
      expect(await (await fetch(`http://api.test:${server.port}/hello`)).text()).toBe('hello');
      expect((await rejection(fetch('http://evil.test/'))).code).toBe('FETCH_HOST_NOT_ALLOWED');
    }
  });

  it('accepts an OpenTelemetry Tracer as it is (the types fit)', () => {
    const tracer: FetchTracer = trace.getTracer('types');
    expect(typeof tracer.startSpan).toBe('function');
  });
});
