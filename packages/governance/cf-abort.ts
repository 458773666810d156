import { writeFileSync } from 'node:fs';
import { loadConfig } from './src/index.js';
writeFileSync('/tmp/cf-a.yaml', 'a:\n\tb: 1\n');
writeFileSync('/tmp/cf-b.yaml', 'a: ' + '['.repeat(1e5) + ']'.repeat(1e5));
try { await loadConfig({ file: '/tmp/cf-a.yaml', env: {} }); } catch (e) { console.log('e1', (e as Error).message.slice(0, 100)); }
try { await loadConfig({ file: '/tmp/cf-b.yaml', env: {} }); } catch (e) { console.log('e2', (e as Error).message.slice(0, 200)); }
