// Run by lazyUndici.test.ts in its own node process: reports whether undici is loaded after importing the
// package, after creating a ContainerLauncher, and after its first Engine API call.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// undici is CommonJS: however it is reached (require, or an ESM import of it), it lands in require.cache.
const moduleCache = createRequire(import.meta.url).cache;
const undiciLoaded = () =>
  Object.keys(moduleCache).some((file) => /[\\/]node_modules[\\/]undici[\\/]/.test(file));

const report: Record<string, unknown> = { atStart: undiciLoaded() };
const { ContainerLauncher } = await import('@ordo/launcher');
report.afterImport = undiciLoaded();

// An engine that knows one endpoint: the batch poll, with no containers.
const dir = mkdtempSync(join(tmpdir(), 'ordo-lazy-undici-'));
const socketPath = join(dir, 'engine.sock');
const engine = createServer((request, response) => {
  response.setHeader('content-type', 'application/json');
  response.end(request.url?.startsWith('/containers/json') ? '[]' : '{}');
});
await new Promise<void>((resolve) => engine.listen(socketPath, resolve));

const launcher = new ContainerLauncher({ docker: { socketPath }, image: 'ordo-test/busybox:1' });
report.afterCreate = undiciLoaded();
await launcher.syncState();
report.afterFirstCall = undiciLoaded();
report.apiCalls = launcher.apiCalls();
await launcher.close();
engine.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify(report));
