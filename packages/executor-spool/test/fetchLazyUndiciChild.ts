// Run by fetchLazyUndici.test.ts in its own node process: reports whether undici is loaded after importing
// the package, after creating a restricted fetch, and after its first request.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

// undici is CommonJS: however it is reached (require, or an ESM import of it), it lands in require.cache.
const moduleCache = createRequire(import.meta.url).cache;
const undiciLoaded = () =>
  Object.keys(moduleCache).some((file) => /[\\/]node_modules[\\/]undici[\\/]/.test(file));

const report: Record<string, boolean> = { atStart: undiciLoaded() };
const { createRestrictedFetch } = await import('@ordo/executor-spool');
report.afterImport = undiciLoaded();
const fetch = createRestrictedFetch({ allowPrivate: ['127.0.0.1'] });
report.afterCreate = undiciLoaded();

const server = createServer((_request, response) => response.end('hello'));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };
const body = await (await fetch(`http://127.0.0.1:${port}/`)).text();
report.afterFirstRequest = undiciLoaded();
await fetch.close();
server.close();
process.stdout.write(JSON.stringify({ ...report, body }));
