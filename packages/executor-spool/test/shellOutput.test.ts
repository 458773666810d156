import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputCollector } from '../src/internal/outputCollector.js';

const marker = Buffer.from('\n__ordo_0123456789abcdef:');

function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

describe('OutputCollector', () => {
  it('keeps the output before the sentinel exactly, however the stream is chunked (property)', () => {
    const noise = fc.oneof(
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      fc
        .constantFrom('\n__ordo_', '\n__ordo_0123456789abcdef', '\n__ordo_ffff:1\n', '\n')
        .map((s) => Buffer.from(s)),
    );
    fc.assert(
      fc.property(
        fc.array(noise, { maxLength: 8 }),
        fc.nat(255),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.nat(200),
        (parts, status, cuts, limit) => {
          const output = Buffer.concat(parts);
          fc.pre(!output.includes(marker)); // a command never sees its nonce
          const stream = Buffer.concat([output, marker, Buffer.from(`${status}\n`)]);
          const collector = new OutputCollector(marker, limit);
          const finished = split(stream, cuts).map((chunk) => collector.push(chunk));
          expect(finished.filter(Boolean)).toHaveLength(1);
          expect(collector.done).toBe(true);
          expect(collector.status).toBe(status);
          expect(collector.truncated).toBe(output.length > limit);
          expect(collector.text()).toBe(output.subarray(0, limit).toString('utf8'));
        },
      ),
    );
  });

  it('takes the marker without a status and newline after it for output', () => {
    const collector = new OutputCollector(marker, 1_000);
    const fake = Buffer.concat([marker, Buffer.from('x\n'), marker, Buffer.from('\n')]);
    expect(collector.push(Buffer.concat([fake, marker, Buffer.from('7\n')]))).toBe(true);
    expect(collector.status).toBe(7);
    expect(collector.text()).toBe(fake.toString());
  });

  it('ignores what arrives after the sentinel', () => {
    const collector = new OutputCollector(marker, 100);
    expect(collector.push(Buffer.concat([Buffer.from('a'), marker, Buffer.from('0\n')]))).toBe(true);
    expect(collector.push(Buffer.from('late'))).toBe(false);
    expect(collector.text()).toBe('a');
  });
});
