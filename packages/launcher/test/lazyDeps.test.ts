import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.js';

// Run in its own node process: is ajv (CommonJS, so in require.cache however it is reached) loaded after
// importing the package, after writing a state file, and after reading one back?
const child = `
  import { createRequire } from 'node:module';
  import path from 'node:path';
  const cache = createRequire(import.meta.url).cache;
  const has = (name) => Object.keys(cache).some((f) => f.split(path.sep).join('/').includes('/node_modules/' + name + '/'));
  const loaded = () => has('ajv');
  const report = { atStart: loaded(), forgeAtStart: has('node-forge') };
  const { openStateStore, readStateFile } = await import('@ordo/launcher');
  report.afterImport = loaded();
  const file = path.join(process.argv[1], 'state.json');
  const store = await openStateStore({ file, feature: 'lazy' });
  store.recordWorkerStarted('w1');
  await store.close();
  report.afterWrite = loaded();
  const { state } = await readStateFile(file);
  report.afterRead = loaded();
  report.workers = state.workers.length;
  report.forgeBeforeCa = has('node-forge');
  const { createWorkerCertificates } = await import('@ordo/launcher');
  createWorkerCertificates({ hosts: ['127.0.0.1'] });
  report.forgeAfterCa = has('node-forge');
  process.stdout.write(JSON.stringify(report));
`;

describe('ajv and node-forge are loaded lazily', () => {
  it('ajv is not loaded by importing the package or writing state, only by the first state file it checks; node-forge only by the first certificate', async () => {
    await using dir = await tempDir();
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', '--input-type=module', '-e', child, dir.path],
      { cwd: import.meta.dirname },
    );
    expect(JSON.parse(stdout)).toEqual({
      atStart: false,
      afterImport: false,
      afterWrite: false,
      afterRead: true,
      workers: 1,
      forgeAtStart: false,
      forgeBeforeCa: false,
      forgeAfterCa: true,
    });
  });
});
