import type { Socket } from 'node:net';
import type { Clock } from '@ordo/contracts';

/** What {@link readFirstLine} got. */
export type FirstLine =
  | { ok: true; line: string; rest: Buffer }
  | { ok: false; reason: 'oversized' | 'timeout' | 'closed' | 'aborted' };

/**
 * Reads the first line of a connection: at most `maxBytes` bytes before its newline (a peer that sends
 * more is `oversized`, and nothing of it is parsed), within `timeoutMs` on `clock` (a slow peer is
 * `timeout`, however it trickles). Leaves the socket paused with its `data` listener removed; `rest` is what
 * came after the newline.
 */
export function readFirstLine(
  socket: Socket,
  options: { maxBytes: number; timeoutMs: number; clock: Clock; signal?: AbortSignal | undefined },
): Promise<FirstLine> {
  const { maxBytes, timeoutMs, clock, signal } = options;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (result: FirstLine) => {
      clock.clearTimeout(timer);
      socket.off('data', onData).off('close', onClose).off('end', onClose);
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      const nl = chunk.indexOf(0x0a);
      if (nl === -1) {
        size += chunk.length;
        if (size > maxBytes) return finish({ ok: false, reason: 'oversized' });
        chunks.push(chunk);
        return;
      }
      if (size + nl > maxBytes) return finish({ ok: false, reason: 'oversized' });
      chunks.push(chunk.subarray(0, nl));
      const line = Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
      finish({ ok: true, line, rest: chunk.subarray(nl + 1) });
    };
    const onClose = () => finish({ ok: false, reason: 'closed' });
    const onAbort = () => finish({ ok: false, reason: 'aborted' });
    const timer = clock.setTimeout(() => finish({ ok: false, reason: 'timeout' }), timeoutMs, {
      unref: true,
    });
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('data', onData).once('close', onClose).once('end', onClose);
    socket.resume();
  });
}
