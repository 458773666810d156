import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Set once a run's private temp root exists in this process (the root config runs every project's setup). */
const OWNER = 'ORDO_TEST_TMPDIR';

/**
 * Vitest global setup: every test run gets a private temp root (TMPDIR, which `os.tmpdir()`, bash and every
 * child process read), removed when the run ends. Whatever a test or a process it started leaves behind
 * (a workspace, a plan file, a pid file) goes with it, so `pnpm test` leaves the system temp dir as it
 * found it; `.ci/run` checks that. When one vitest process runs several projects (the root config), they
 * share one root: nesting them would make unix socket paths longer than the 108 bytes the kernel allows.
 * The spool's journal key directory (`ORDO_SPOOL_KEY_DIR`) lives in that root too.
 */
export default function setup(): () => void {
  if (process.env[OWNER] !== undefined) return () => {};
  const previous = process.env.TMPDIR;
  const dir = mkdtempSync(path.join(tmpdir(), 'ordo-test-run-'));
  // Sticky and world-writable like /tmp: container workers running as another user can use it too.
  chmodSync(dir, 0o1777);
  const previousKeyDir = process.env.ORDO_SPOOL_KEY_DIR;
  process.env.TMPDIR = dir;
  process.env[OWNER] = dir;
  // The spool's journal secret (made on a first commit) goes with the run, not into the user's home.
  process.env.ORDO_SPOOL_KEY_DIR = path.join(dir, 'ordo-spool-keys');
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (previousKeyDir === undefined) delete process.env.ORDO_SPOOL_KEY_DIR;
    else process.env.ORDO_SPOOL_KEY_DIR = previousKeyDir;
    delete process.env[OWNER];
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };
}
