// Proves that a CommonJS host can load a built ESM-only package through Node's require(esm)
// (on by default since Node 20.19). Run from a package's test:build target: `node ../../scripts/check-require.cjs .`
'use strict';
const path = require('node:path');
const { createRequire } = require('node:module');

const dir = path.resolve(process.argv[2] || '.');
const pkg = require(path.join(dir, 'package.json'));
const requireFromPackage = createRequire(path.join(dir, 'package.json'));
const subpaths = Object.keys(pkg.exports || { '.': null }).filter((s) => s !== './package.json');
let failed = 0;
for (const subpath of subpaths) {
  const specifier = subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`;
  try {
    const mod = requireFromPackage(specifier);
    const names = Object.keys(mod).filter((k) => k !== '__esModule' && k !== 'module.exports');
    if (names.length === 0) throw new Error('it loaded, but exports nothing');
    console.log(`require('${specifier}') ok on Node ${process.versions.node}: ${names.length} exports`);
  } catch (error) {
    failed++;
    console.error(`require('${specifier}') failed on Node ${process.versions.node}: ${error.message}`);
  }
}
process.exit(failed ? 1 : 0);
