import { deflateSync } from 'node:zlib';

const B85 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~';

/** Git's base85 lines of `data`: a length character (A–Z for 1–26, a–z for 27–52), then 5 characters per 4 bytes. */
function base85Lines(data: Buffer): string {
  let out = '';
  for (let at = 0; at < data.length; at += 52) {
    const n = Math.min(52, data.length - at);
    out += n <= 26 ? String.fromCharCode(64 + n) : String.fromCharCode(96 + n - 26);
    for (let k = 0; k < n; k += 4) {
      let acc = 0;
      for (let j = 0; j < 4; j++) acc = acc * 256 + (k + j < n ? (data[at + k + j] as number) : 0);
      let group = '';
      for (let j = 0; j < 5; j++) {
        group = (B85[acc % 85] as string) + group;
        acc = Math.floor(acc / 85);
      }
      out += group;
    }
    out += '\n';
  }
  return out;
}

/**
 * The body of a `GIT binary patch` (as `git diff --binary` prints it): the new content as a literal, then
 * the old one for the reverse. `git apply` reproduces the exact bytes from it; it is plain ASCII.
 */
export function binaryPatchBody(before: Buffer, after: Buffer): string {
  const literal = (bytes: Buffer) => `literal ${bytes.length}\n${base85Lines(deflateSync(bytes))}\n`;
  return `GIT binary patch\n${literal(after)}${literal(before)}`;
}
