import { noopLogger } from '@ordo/contracts';
import { afterAll, beforeEach, describe, expect } from 'vitest';
import { dockerFromEnv } from '../src/index.js';
import { EngineClient } from '../src/internal/engine.js';

/*
 * The real Docker engine for the tests that need one: DOCKER_HOST must point at it
 * (scripts/docker-engine.sh start prints it). Without one those tests skip, unless ORDO_REQUIRE_DOCKER=1
 * (CI), where they fail.
 */

/** The test image: busybox applets (`sh`, `cat`, `head`, `sed`, …). */
export const IMAGE = 'ordo-test/busybox:1';
/** Whether a missing engine fails the tests instead of skipping them. */
export const required = process.env.ORDO_REQUIRE_DOCKER === '1';
/** The engine's address, when DOCKER_HOST is set. */
export const docker = process.env.DOCKER_HOST ? dockerFromEnv() : undefined;
/** A client of the engine for the tests' own calls (kill, list, remove). */
export const engine = docker ? new EngineClient(docker, noopLogger) : undefined;
/** Whether the engine answers. */
export const reachable = engine
  ? await engine
      .request({ method: 'GET', path: '/_ping', endpoint: 'ping', signal: AbortSignal.timeout(15_000) })
      .then(() => true)
      .catch(() => false)
  : false;
/** How to start an engine, for skip and failure messages. */
export const HOW =
  'start one with `ORDO_DOCKER_DIR=/tmp/ordo-docker-dev scripts/docker-engine.sh start` and export the DOCKER_HOST it prints';

/** Says why the real engine tests of `suite` skip, when they do. */
export function warnIfSkipped(suite: string): void {
  if (!reachable && !required) {
    console.warn(
      `[launcher] skipping ${suite}: no engine at DOCKER_HOST=${process.env.DOCKER_HOST ?? '(unset)'}; ${HOW}.`,
    );
  }
}

/** Throws (in a beforeEach) when the engine is required but not there. */
export function assertReachable(): void {
  if (!reachable) {
    throw new Error(
      `ORDO_REQUIRE_DOCKER=1 but no Docker engine answers at DOCKER_HOST=${process.env.DOCKER_HOST ?? '(unset)'}; ${HOW}.`,
    );
  }
}

/** Removes every container labelled `ordo.test=<value>` (each test file uses its own value). */
export async function removeTestContainers(value: string): Promise<void> {
  if (!engine || !reachable) return;
  const res = await engine.request({
    method: 'GET',
    path: '/containers/json',
    endpoint: 'list',
    query: { all: 1, filters: JSON.stringify({ label: [`ordo.test=${value}`] }) },
  });
  for (const c of res.json<{ Id: string }[]>()) {
    await engine.request({
      method: 'DELETE',
      path: `/containers/${c.Id}`,
      endpoint: 'rm',
      query: { force: 1 },
      ok: [404],
    });
  }
}

/** Polls (real time, for I/O) until `check` holds; fails after 30 s. */
export async function eventually(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(await check()).toBe(true);
}

/**
 * A `describe` of real engine tests: run when the engine answers (or is required, to fail), each test
 * checking it is there; afterwards removes the containers labelled `ordo.test=<label>` and closes the client.
 * Container creation on the vfs driver of a loaded machine can take seconds: generous limits, no timing asserts.
 */
export function describeOnRealEngine(title: string, label: string, body: () => void): void {
  describe.runIf(reachable || required)(title, { timeout: 90_000 }, () => {
    beforeEach(assertReachable);
    afterAll(async () => {
      await removeTestContainers(label);
      await engine?.close();
    }, 90_000);
    body();
  });
}
