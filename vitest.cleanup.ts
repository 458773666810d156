import { afterAll } from 'vitest';
import { removeTempDirs } from './vitest.tempDirs.js';

// Setup file of every package: what a test file made with `tempDir()` goes when the file is done.
afterAll(removeTempDirs);
