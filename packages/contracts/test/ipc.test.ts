import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ChunkAssembler,
  encodeMessage,
  encodeResult,
  LineSplitter,
  parseChildMessage,
  parseParentMessage,
} from '../src/index.js';

function split(text: string[], max = 1_000) {
  const lines: string[] = [];
  const overflows: number[] = [];
  const splitter = new LineSplitter((l) => lines.push(l), {
    maxLineLength: max,
    onOverflow: (n) => overflows.push(n),
    skipEmpty: true,
  });
  for (const piece of text) splitter.push(piece);
  splitter.end();
  return { lines, overflows };
}

describe('IPC protocol v1 parsing', () => {
  it('accepts every child message type with its fields', () => {
    const messages = [
      { type: 'READY', v: 1, pid: 42 },
      { type: 'PROGRESS', taskId: 't1', percent: 50, message: 'half' },
      { type: 'COMPLETE', taskId: 't1', result: { ok: true } },
      { type: 'COMPLETE', taskId: 't1', result: null },
      { type: 'FAILED', taskId: 't1', error: { name: 'Error', message: 'boom', code: 'X' } },
      { type: 'HEARTBEAT' },
      { type: 'MEMORY', rss: 1, heapUsed: 2 },
      { type: 'LOG', level: 'warn', msg: 'hi' },
      { type: 'CHUNK', taskId: 't1', seq: 0, data: '"a', last: false },
    ];
    for (const m of messages) {
      expect(parseChildMessage(encodeMessage(m as never).trimEnd())).toEqual({ ok: true, message: m });
    }
  });

  it('tells plain text from JSON that is not a protocol message', () => {
    expect(parseChildMessage('hello world')).toMatchObject({ ok: false, kind: 'text' });
    expect(parseChildMessage('{"type":')).toMatchObject({ ok: false, kind: 'text' });
    expect(parseChildMessage('[1,2]')).toMatchObject({ ok: false, kind: 'invalid' });
    expect(parseChildMessage('42')).toMatchObject({ ok: false, kind: 'invalid' });
    expect(parseChildMessage('{"type":"NOPE"}')).toEqual({
      ok: false,
      kind: 'invalid',
      reason: 'unknown message type NOPE',
    });
    expect(parseChildMessage('{"type":"toString"}')).toMatchObject({ kind: 'invalid' });
    expect(parseChildMessage('{"type":"PROGRESS","taskId":"t","percent":"x"}')).toMatchObject({
      kind: 'invalid',
      reason: 'malformed PROGRESS message',
    });
    expect(parseChildMessage('{"type":"LOG","level":"fatal","msg":"x"}')).toMatchObject({ kind: 'invalid' });
    expect(parseChildMessage('{"type":"COMPLETE","taskId":""}')).toMatchObject({ kind: 'invalid' });
    expect(parseChildMessage('{"type":"RUN","taskId":"t","payload":1}')).toMatchObject({ kind: 'invalid' });
  });

  it('parses parent messages', () => {
    expect(parseParentMessage('{"type":"RUN","taskId":"t","payload":[1]}')).toMatchObject({ ok: true });
    expect(parseParentMessage('{"type":"CANCEL","taskId":"t"}')).toMatchObject({ ok: true });
    expect(parseParentMessage('{"type":"SHUTDOWN"}')).toMatchObject({ ok: true });
    expect(parseParentMessage('{"type":"CANCEL"}')).toMatchObject({ ok: false, kind: 'invalid' });
  });

  it('never throws on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (line) => {
        const parsed = parseChildMessage(line);
        expect(typeof parsed.ok).toBe('boolean');
        parseParentMessage(line);
      }),
    );
  });
});

describe('LineSplitter', () => {
  it('reassembles lines across arbitrary cuts (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'grapheme', minLength: 1 }).filter((s) => !/[\r\n]/.test(s)),
          {
            maxLength: 20,
          },
        ),
        fc.array(fc.nat(), { maxLength: 10 }),
        (lines, cuts) => {
          const text = lines.map((l) => `${l}\n`).join('');
          const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const pieces: string[] = [];
          let from = 0;
          for (const p of points) {
            pieces.push(text.slice(from, p));
            from = p;
          }
          pieces.push(text.slice(from));
          expect(split(pieces, 10_000).lines).toEqual(lines);
        },
      ),
    );
  });

  it('drops an over-long line whole, reports it, and keeps the next line', () => {
    const { lines, overflows } = split(['ok\n', 'x'.repeat(8), 'x'.repeat(8), 'y\nnext\r\n', 'tail'], 10);
    expect(lines).toEqual(['ok', 'next', 'tail']);
    expect(overflows).toEqual([17]);
  });

  it('reports an over-long line that is complete in one push and an unfinished one at the end', () => {
    expect(split(['a'.repeat(20), '\n'], 10).overflows).toEqual([20]);
    expect(split(['b'.repeat(20)], 10)).toEqual({ lines: [], overflows: [20] });
  });
});

describe('LineSplitter on bytes', () => {
  it('decodes UTF-8 cut anywhere, keeps empty lines unless told, drops a trailing \\r (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.string({ unit: 'grapheme' }).filter((s) => !/[\r\n]/.test(s)),
          { maxLength: 12 },
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        (lines, cuts) => {
          const bytes = Buffer.from(lines.map((l, i) => `${l}${i % 2 ? '\r\n' : '\n'}`).join(''));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          const out: string[] = [];
          const splitter = new LineSplitter((l) => out.push(l));
          let from = 0;
          for (const p of [...points, bytes.length]) {
            splitter.push(bytes.subarray(from, p));
            from = p;
          }
          splitter.end();
          expect(out).toEqual(lines);
        },
      ),
    );
  });

  it('emits a last line without a newline at end(), and caps bytes input too', () => {
    const out: string[] = [];
    const overflows: number[] = [];
    const splitter = new LineSplitter((l) => out.push(l), {
      maxLineLength: 4,
      onOverflow: (n) => overflows.push(n),
    });
    splitter.push(Buffer.from('ab\n\nlong line\n✓'));
    splitter.end();
    expect(out).toEqual(['ab', '', '✓']);
    expect(overflows).toEqual([9]);
  });
});

describe('chunked results', () => {
  it('keeps a small result in one COMPLETE line', () => {
    const lines = encodeResult('t1', { a: 1 }, 1024);
    expect(lines).toEqual(['{"type":"COMPLETE","taskId":"t1","result":{"a":1}}\n']);
    expect(encodeResult('t1', undefined, 1024)[0]).toContain('"result":null');
  });

  it('splits a large result into CHUNK lines under the limit and reassembles it (property)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.integer({ min: 64, max: 400 }), (value, max) => {
        const lines = encodeResult('t9', value, max);
        const assembler = new ChunkAssembler(1_000_000);
        let result: unknown = Symbol('none');
        for (const line of lines) {
          expect(Buffer.byteLength(line)).toBeLessThanOrEqual(max + 80);
          const parsed = parseChildMessage(line.trimEnd());
          if (!parsed.ok) throw new Error(parsed.reason);
          if (parsed.message.type === 'COMPLETE') result = parsed.message.result;
          else if (parsed.message.type === 'CHUNK') {
            const step = assembler.add(parsed.message);
            if (step.done) result = step.result;
          }
        }
        expect(result).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });

  it('splits non-ASCII and surrogate pairs without corrupting them', () => {
    const value = '😀é'.repeat(500);
    const lines = encodeResult('t', value, 100);
    expect(lines.length).toBeGreaterThan(10);
    const assembler = new ChunkAssembler(10_000);
    let out: unknown;
    for (const line of lines) {
      const step = assembler.add(JSON.parse(line));
      if (step.done) out = step.result;
    }
    expect(out).toBe(value);
  });

  it('refuses chunks out of order and totals over the cap', () => {
    const assembler = new ChunkAssembler(10);
    expect(() => assembler.add({ seq: 1, data: 'x', last: false })).toThrow(/expected/);
    assembler.add({ seq: 0, data: '"12345', last: false });
    expect(() => assembler.add({ seq: 1, data: '678901"', last: true })).toThrow(/cap of 10/);
  });
});
