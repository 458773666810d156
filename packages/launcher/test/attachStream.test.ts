import { LineSplitter } from '@ordo/contracts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FrameDemuxer, type FrameStream } from '../src/internal/frameDemuxer.js';
import { LineQueue } from '../src/internal/lineQueue.js';

/** An engine frame: stream byte, three zero bytes, big-endian size, payload. */
function frame(stream: FrameStream, payload: Buffer | string): Buffer {
  const body = Buffer.from(payload);
  const header = Buffer.alloc(8);
  header[0] = stream === 'stdout' ? 1 : 2;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** Feeds `chunks` through demuxer and splitters, as the attach channel does; returns the lines per stream. */
function read(chunks: Iterable<Buffer>): Record<FrameStream, string[]> {
  const out: Record<FrameStream, string[]> = { stdout: [], stderr: [] };
  const splitters = {
    stdout: new LineSplitter((l) => out.stdout.push(l)),
    stderr: new LineSplitter((l) => out.stderr.push(l)),
  };
  const demuxer = new FrameDemuxer((stream, bytes) => splitters[stream].push(bytes));
  for (const chunk of chunks) demuxer.push(chunk);
  splitters.stdout.end();
  splitters.stderr.end();
  return out;
}

/** `bytes` cut at the given offsets. */
function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const points = [...new Set(at.map((p) => p % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  return chunks;
}

// Multi-byte characters of every UTF-8 length, a CRLF line, an empty line, a last line without newline.
const STDOUT = '{"a":"é"}\n€ 2 €\r\n\n😀 four bytes 😀\nno newline at the end ✓';
const STDERR = 'warn: ü\nfatal: 💥\n';
const STREAM = Buffer.concat([
  frame('stdout', Buffer.from(STDOUT).subarray(0, 5)), // cuts "é" (2 bytes) between two frames
  frame('stderr', Buffer.from(STDERR).subarray(0, 9)), // cuts "ü"
  frame('stdout', Buffer.from(STDOUT).subarray(5, 14)), // cuts "€" (3 bytes)
  frame('stdout', ''),
  frame('stderr', Buffer.from(STDERR).subarray(9)),
  frame('stdout', Buffer.from(STDOUT).subarray(14, 30)), // cuts "😀" (4 bytes)
  frame('stdout', Buffer.from(STDOUT).subarray(30)),
]);
const EXPECTED = {
  stdout: ['{"a":"é"}', '€ 2 €', '', '😀 four bytes 😀', 'no newline at the end ✓'],
  stderr: ['warn: ü', 'fatal: 💥'],
};

describe('FrameDemuxer + LineSplitter', () => {
  it('reads hand-made frames whole', () => {
    expect(read([STREAM])).toEqual(EXPECTED);
  });

  it('reads the same lines with the stream cut at every byte position', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(read([STREAM.subarray(0, i), STREAM.subarray(i)]), `cut at ${i}`).toEqual(EXPECTED);
    }
  });

  it('reads the same lines one byte at a time', () => {
    const bytes = [...STREAM].map((b) => Buffer.from([b]));
    expect(read(bytes)).toEqual(EXPECTED);
  });

  it('property: any lines, framed anyhow and cut anywhere, come out whole, in order, per stream', () => {
    const line = fc.string({ unit: 'grapheme', maxLength: 40 }).map((s) => s.replace(/[\r\n]/g, ''));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom<FrameStream>('stdout', 'stderr'), line), { maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (lines, frameCuts, chunkCuts) => {
          // Each stream's text is framed in pieces cut at arbitrary byte offsets (splitting characters).
          const frames: Buffer[] = [];
          for (const stream of ['stdout', 'stderr'] as const) {
            const text = Buffer.from(
              lines
                .filter(([s]) => s === stream)
                .map(([, l]) => `${l}\n`)
                .join(''),
            );
            for (const piece of cut(text, frameCuts)) frames.push(frame(stream, piece));
          }
          const got = read(cut(Buffer.concat(frames), chunkCuts));
          expect(got.stdout).toEqual(lines.filter(([s]) => s === 'stdout').map(([, l]) => l));
          expect(got.stderr).toEqual(lines.filter(([s]) => s === 'stderr').map(([, l]) => l));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads a line of 1 MiB arriving in 64 KiB chunks as one line', () => {
    const long = 'x'.repeat(2 ** 20);
    const bytes = frame('stdout', `${long}\nshort\n`);
    const chunks = cut(
      bytes,
      Array.from({ length: 20 }, (_, i) => i * 65_536),
    );
    expect(read(chunks).stdout).toEqual([long, 'short']);
  });

  it('refuses a stream that is not framed, naming the bytes', () => {
    const demuxer = new FrameDemuxer(() => {});
    expect(() => demuxer.push(Buffer.from('hello world\n'))).toThrow(
      /not a stream frame header: 68656c6c6f20776f/,
    );
    const nonzero = Buffer.from([1, 0, 1, 0, 0, 0, 0, 1, 0x41]);
    expect(() => new FrameDemuxer(() => {}).push(nonzero)).toThrow(RangeError);
  });

  it('replaces invalid UTF-8 in a line, and keeps the next line intact', () => {
    expect(read([frame('stdout', Buffer.from([0x61, 0xff, 0x0a, 0x62, 0x0a]))]).stdout).toEqual([
      'a\uFFFD',
      'b',
    ]);
  });

  it('does not emit an empty last line when the stream ends on a newline', () => {
    expect(read([frame('stdout', 'a\n')]).stdout).toEqual(['a']);
    expect(read([frame('stdout', '')]).stdout).toEqual([]);
  });
});

describe('LineQueue', () => {
  it('fail() ends the reader with the error after the buffered lines', async () => {
    const queue = new LineQueue(Number.POSITIVE_INFINITY);
    queue.push('a');
    queue.fail(new Error('broken'));
    queue.push('ignored after the end');
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const line of queue) got.push(line);
      })(),
    ).rejects.toThrow('broken');
    expect(got).toEqual(['a']);
  });

  it('calls onTake after each line the reader takes', async () => {
    let taken = 0;
    const queue = new LineQueue(10, () => taken++);
    queue.push('a');
    queue.push('b');
    queue.end();
    const seen: [string, number, number][] = [];
    for await (const line of queue) seen.push([line, taken, queue.size]);
    expect(seen).toEqual([
      ['a', 1, 1],
      ['b', 2, 0],
    ]);
  });
});
