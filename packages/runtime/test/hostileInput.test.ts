import { execFile, execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { isOrdoError } from '@ordo/contracts';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import { loadPlan, type PlanInvalidError, parsePlan, parsePlanText } from '../src/index.js';
import { memoryIo, tempDir } from './support/memoryIo.js';

const prototypeNames = Object.getOwnPropertyNames(Object.prototype).sort();
const originalToString = Object.prototype.toString;

function expectPrototypeUntouched(): void {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeNames);
  expect(Object.prototype.toString).toBe(originalToString);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
}

function planInvalid(fn: () => unknown): PlanInvalidError {
  try {
    fn();
  } catch (error) {
    expect(isOrdoError(error, 'PLAN_INVALID')).toBe(true);
    return error as PlanInvalidError;
  }
  throw new Error('expected PLAN_INVALID');
}

const task = '{ id: a, files: [a.txt], run: { shell: "true" } }';

describe('`ordo config check` fails on hostile configuration', () => {
  const files: Array<[name: string, text: string]> = [
    ['top-level __proto__', '__proto__:\n  toString: pwned\n'],
    ['workers.__proto__', 'workers:\n  __proto__:\n    polluted: 1\n'],
    ['quoted "__proto__"', '"__proto__": { polluted: 1 }\n'],
    ['<< merge key', 'workers:\n  <<: { __proto__: { polluted: 1 } }\n'],
    ['constructor.prototype', 'constructor: { prototype: { polluted: 1 } }\n'],
    ['a timer past 2^31-1 ms', 'memory:\n  intervalMs: 3000000000\n'],
    ['an absurd heap', 'workers:\n  heapMb: 1000000000000\n'],
    ['deep brackets', `a: ${'['.repeat(1e5)}${']'.repeat(1e5)}`],
  ];
  it.each(files)('%s: exit 1, CONFIG_INVALID, Object.prototype untouched', async (_name, text) => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, 'ordo.yaml'), text);
    const io = memoryIo({ cwd: dir.path });
    expect(await main(['config', 'check', 'ordo.yaml'], io.io)).toBe(1);
    expect(io.stdout()).not.toContain('config OK');
    expect(io.stderr()).toContain('CONFIG_INVALID');
    expectPrototypeUntouched();
  });

  it('env overrides naming constructor/prototype: exit 1', async () => {
    await using dir = await tempDir();
    const io = memoryIo({ cwd: dir.path, env: { ORDO_CONSTRUCTOR__PROTOTYPE__POLLUTED: '1' } });
    expect(await main(['config', 'check'], io.io)).toBe(1);
    expect(io.stderr()).toContain('env ORDO_CONSTRUCTOR__PROTOTYPE__POLLUTED');
    expectPrototypeUntouched();
  });

  it('a FIFO or a directory as the config file: exit 1 with CONFIG_UNREADABLE, no hang', async () => {
    await using dir = await tempDir();
    execFileSync('mkfifo', [join(dir.path, 'pipe.yaml')]);
    await mkdir(join(dir.path, 'dir.yaml'));
    for (const name of ['pipe.yaml', 'dir.yaml']) {
      const io = memoryIo({ cwd: dir.path });
      expect(await main(['config', 'check', name], io.io)).toBe(1);
      expect(io.stderr()).toContain('CONFIG_UNREADABLE');
    }
  });
});

describe('plans refuse prototype keys, deep nesting, alias bombs and long timers (PLAN_INVALID)', () => {
  const texts: Array<[name: string, text: string, path: string]> = [
    ['top-level __proto__', `__proto__: { polluted: 1 }\nfeature: x\ntasks: [${task}]\n`, '__proto__'],
    ['quoted in JSON', `{"feature": "x", "__proto__": {"polluted": 1}, "tasks": []}`, '__proto__'],
    [
      'inside run.input',
      'feature: x\ntasks:\n  - id: a\n    files: []\n    run: { module: m.mjs, input: { __proto__: { polluted: 1 } } }\n',
      'tasks[0].run.input.__proto__',
    ],
    [
      'constructor in a task',
      `feature: x\ntasks:\n  - ${task.slice(0, -1)}, constructor: { prototype: 1 } }\n`,
      'tasks[0].constructor',
    ],
    ['<< merge key', `feature: x\n<<: { prototype: 1 }\ntasks: [${task}]\n`, '<<.prototype'],
  ];
  it.each(texts)('%s', (_name, text, path) => {
    const error = planInvalid(() => parsePlanText(text));
    expect(error.issues[0]?.path).toBe(path);
    expect(error.issues[0]?.line).toBeTypeOf('number');
    expectPrototypeUntouched();
  });

  it('refuses such keys in a plan object too', () => {
    const input = JSON.parse(
      '{"feature":"x","tasks":[{"id":"a","files":[],"run":{"module":"m.mjs","input":{"__proto__":{"polluted":1}}}}]}',
    );
    expect(planInvalid(() => parsePlan(input)).issues[0]?.path).toBe('tasks[0].run.input.__proto__');
    const deep: Record<string, unknown> = {};
    let node = deep;
    for (let i = 0; i < 10_000; i++) node = node.a = {} as Record<string, unknown>;
    const tooDeep = { feature: 'x', tasks: [{ id: 'a', files: [], run: { module: 'm.mjs', input: deep } }] };
    expect(planInvalid(() => parsePlan(tooDeep)).message).toContain('nested deeper than 64');
    expectPrototypeUntouched();
  });

  it('caps timeoutMs at 2^31-1 ms, naming the limit', () => {
    const text = `feature: x\ntasks:\n  - ${task.slice(0, -1)}, timeoutMs: 3000000000 }\n`;
    expect(planInvalid(() => parsePlanText(text)).issues[0]?.message).toContain('2147483647');
  });

  it('hostile texts give PLAN_INVALID in one process, no SIGABRT, no raw ReferenceError', async () => {
    const child = fileURLToPath(new URL('./planHostileChild.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=@ordo/source', '--import', 'tsx', child],
      { maxBuffer: 1 << 20, timeout: 60_000 },
    );
    expect(JSON.parse(stdout)).toEqual({
      tabs: 'PLAN_INVALID',
      brackets: 'PLAN_INVALID',
      json: 'PLAN_INVALID',
      jsonObjects: 'PLAN_INVALID',
      dashes: 'PLAN_INVALID',
      laughs: 'PLAN_INVALID',
    });
  }, 90_000);

  it('loadPlan on a FIFO or a directory is PLAN_UNREADABLE at once; a huge file is PLAN_INVALID', async () => {
    await using dir = await tempDir();
    execFileSync('mkfifo', [join(dir.path, 'pipe.yaml')]);
    await mkdir(join(dir.path, 'dir.yaml'));
    await expect(loadPlan(join(dir.path, 'pipe.yaml'))).rejects.toMatchObject({
      code: 'PLAN_UNREADABLE',
      message: expect.stringContaining('FIFO'),
    });
    await expect(loadPlan(join(dir.path, 'dir.yaml'))).rejects.toMatchObject({
      code: 'PLAN_UNREADABLE',
      message: expect.stringContaining('directory'),
    });
    await writeFile(join(dir.path, 'big.yaml'), `# ${'x'.repeat(9 * 1024 * 1024)}\n`);
    await expect(loadPlan(join(dir.path, 'big.yaml'))).rejects.toMatchObject({ code: 'PLAN_INVALID' });
  });
});
