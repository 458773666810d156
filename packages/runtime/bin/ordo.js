#!/usr/bin/env node
// The `ordo` executable. It is a committed file (not dist/) so that `pnpm install` can link it before the
// first build; the CLI itself is built from src/cli/bin.ts.
import '../dist/cli/bin.js';
