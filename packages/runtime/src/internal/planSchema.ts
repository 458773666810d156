import { lazyModule } from '@ordo/contracts';
import type * as Zod from 'zod';

const NAME = /^[A-Za-z0-9._-]+$/;
const TASK_ID = /^[A-Za-z0-9._:-]+$/;

/**
 * The longest timer Node can set (2^31−1 ms), the bound of a task's `timeoutMs`: the same value as
 * governance's `MAX_DURATION_MS`, kept here so that parsing a plan does not load the config schema.
 */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * zod, loaded on the first plan parsed: importing it costs about 50 ms that `import('@ordo/runtime')` should
 * not pay. `preferImport`: its ES module build, the instance governance's config imports; `require('zod')`
 * alone would load the CommonJS build as a second copy (99.3 MB against 80.8 MB of parent RSS in the
 * runtime bench).
 */
const zod = lazyModule<typeof Zod>(import.meta.url, 'zod', { preferImport: true });

/** The zod schema of a plan as written, built on first use and kept. */
export const planSchema = (): ReturnType<typeof buildPlanSchema> => {
  built ??= buildPlanSchema(zod().z);
  return built;
};

let built: ReturnType<typeof buildPlanSchema> | undefined;

function buildPlanSchema(z: typeof Zod.z) {
  /** A declared file: workspace-relative, `/`-separated, no `..`, no absolute path. */
  const declaredFile = z
    .string()
    .min(1, 'expected a non-empty path or glob')
    .refine(
      (p) => !p.startsWith('/') && !/^[A-Za-z]:/.test(p),
      'expected a workspace-relative path, not an absolute one',
    )
    .refine((p) => !p.split('/').includes('..'), 'expected a path inside the workspace (no `..` segment)')
    .refine((p) => !p.includes('\\') && !p.includes('\0'), 'expected `/` as the separator and no NUL byte');

  const runSchema = z.union(
    [
      z.strictObject({ shell: z.string().min(1, 'expected a non-empty bash command') }),
      z.strictObject({
        module: z.string().min(1, 'expected a module path'),
        export: z.string().min(1).optional(),
        input: z.unknown().optional(),
      }),
    ],
    { error: 'expected { shell: "<bash command>" } or { module: "<path>", export?, input? }' },
  );

  const taskSchema = z.strictObject({
    id: z.string().regex(TASK_ID, 'expected an id of letters, digits, `.`, `_`, `:` or `-`'),
    deps: z.array(z.string()).optional(),
    priority: z
      .union([z.enum(['CRITICAL', 'HIGH', 'NORMAL', 'LOW']), z.literal([0, 1, 2, 3])], {
        error: 'expected CRITICAL, HIGH, NORMAL, LOW or 0–3',
      })
      .optional(),
    files: z.array(declaredFile, { error: 'expected a list of the paths or globs the task may touch' }),
    timeoutMs: z
      .number()
      .int()
      .positive('expected a whole number of ms > 0')
      .max(MAX_TIMER_MS, `expected at most ${MAX_TIMER_MS} ms (2^31−1, the longest timer Node can set)`)
      .optional(),
    preemptable: z.boolean({ error: 'expected true or false' }).optional(),
    run: runSchema,
  });

  const planSchema = z.strictObject({
    feature: z.string().regex(NAME, 'expected a name of letters, digits, `.`, `_` or `-`'),
    seed: z.number().int('expected a whole number').optional(),
    tasks: z.array(taskSchema).min(1, 'expected at least one task'),
  });

  return planSchema;
}
