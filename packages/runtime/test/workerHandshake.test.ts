import { noopLogger, type WorkerIo } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { WorkerConnection } from '../src/internal/workerConnection.js';

/** A worker channel that prints `lines` and then stays open. */
function channel(lines: string[]): WorkerIo {
  return {
    send: async () => {},
    lines: () => ({
      async *[Symbol.asyncIterator]() {
        yield* lines;
        await new Promise(() => {});
      },
    }),
  };
}

describe('the runtime worker handshake', () => {
  it.each([
    ['{"type":"READY","v":"1","pid":7}', '"1"'],
    ['{"type":"READY","v":2,"pid":7}', '2'],
    ['{"type":"READY","pid":7}', 'undefined (none announced)'],
  ])('%s is IPC_VERSION_MISMATCH at once', async (line, got) => {
    const connection = new WorkerConnection('w1', channel([line]), noopLogger, async () => 'gone');
    await expect(connection.ready(60_000)).rejects.toMatchObject({
      code: 'IPC_VERSION_MISMATCH',
      details: { workerId: 'w1', got },
    });
  });

  it('a READY with version 1 is accepted', async () => {
    const connection = new WorkerConnection(
      'w1',
      channel(['{"type":"READY","v":1,"pid":7}']),
      noopLogger,
      async () => 'gone',
    );
    await expect(connection.ready(60_000)).resolves.toBeUndefined();
  });
});
