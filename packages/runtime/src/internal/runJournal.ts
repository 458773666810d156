import { createHash } from 'node:crypto';
import { type FileHandle, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { unifiedDiff } from '@ordo/executor-spool';
import { ResumeMismatchError, ResumeWorkspaceChangedError } from '../errors.js';
import { isInside } from './isInside.js';
import { readOrNull } from './levelView.js';

/** The first line: which run the journal belongs to. */
interface RunLine {
  t: 'run';
  feature: string;
  planDigest: string;
  runId: string;
}

/** Written before a commit writes anything: what it will write (sha256 of each path's new content, or null). */
interface IntentLine {
  t: 'intent';
  taskId: string;
  editsDigest: string;
  files: Record<string, string | null>;
}

/** Written once the commit is on disk. */
interface CommitLine {
  t: 'commit';
  taskId: string;
}

/** A path's content before the feature first changed it (saved under `baseline/`). */
interface BaselineLine {
  t: 'baseline';
  path: string;
  existed: boolean;
}

type Line = RunLine | IntentLine | CommitLine | BaselineLine;

/** A task the journal shows committed, with the digest of its edits. */
export interface CommittedTask {
  taskId: string;
  editsDigest: string;
  files: readonly string[];
}

/** How many files `diff()` reads and diffs at once. */
const DIFF_BATCH = 8;

/** sha256 hex of bytes. */
export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/**
 * The runtime's crash-safe record of one feature run, beside the state file: which tasks committed and
 * what they wrote (so a resumed run skips them and rebuilds the same trace digest), and the content each
 * changed path had before the feature (so the feature's diff survives a crash).
 *
 * It is an append-only JSON-lines file; a torn last line (a crash mid-write) is ignored. A commit is
 * journaled as an intent (fsynced) before the spool writes anything and a commit line (fsynced) once the
 * spool's commit is done. The caller rolls back the spool's half-done commits before {@link resume}; an
 * intent without its commit line then counts as committed exactly when the disk holds what it meant to
 * write (the spool finished, the crash came before the commit line).
 */
export class RunJournal {
  readonly runId: string;
  readonly #baselineDir: string;
  readonly #handle: FileHandle;
  readonly #baseline = new Map<string, boolean>();
  /** Diffs started during the run, by path ({@link RunJournal.diffLater}). */
  readonly #diffs = new Map<string, Promise<string>>();
  #tail: Promise<void> = Promise.resolve();

  private constructor(file: string, handle: FileHandle, runId: string) {
    this.#baselineDir = path.join(path.dirname(file), 'baseline');
    this.#handle = handle;
    this.runId = runId;
  }

  /** Starts a fresh journal for a new run (removing the last run's). */
  static async create(dir: string, run: Omit<RunLine, 't'>): Promise<RunJournal> {
    await mkdir(dir, { recursive: true });
    const file = path.join(dir, 'journal.jsonl');
    await rm(path.join(dir, 'baseline'), { recursive: true, force: true });
    await writeFile(file, `${JSON.stringify({ t: 'run', ...run } satisfies RunLine)}\n`);
    return new RunJournal(file, await open(file, 'a'), run.runId);
  }

  /**
   * Opens the journal of an unfinished run to resume it, and works out which tasks committed.
   * @throws ResumeMismatchError when it belongs to another feature or plan.
   * @returns `undefined` when there is no journal (nothing to resume).
   */
  static async resume(
    dir: string,
    workspace: string,
    expect: { feature: string; planDigest: string },
  ): Promise<{ journal: RunJournal; committed: Map<string, CommittedTask> } | undefined> {
    const file = path.join(dir, 'journal.jsonl');
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text === undefined) return undefined;
    const lines = parseLines(text);
    const head = lines[0];
    if (head?.t !== 'run') return undefined;
    if (head.feature !== expect.feature || head.planDigest !== expect.planDigest) {
      throw new ResumeMismatchError(
        `The unfinished run in ${dir} is of feature "${head.feature}" with another plan (digest ${head.planDigest.slice(0, 12)}…), not this one. Resume it with the plan it started with, or run without resume to start over.`,
        { details: { feature: head.feature, planDigest: head.planDigest } },
      );
    }
    const journal = new RunJournal(file, await open(file, 'a'), head.runId);
    // A torn last line (power lost mid-append) gets its newline, so the next line is not glued to it.
    if (!text.endsWith('\n')) await journal.#append(null);
    const committed = new Map<string, CommittedTask>();
    const intents = new Map<string, IntentLine>();
    for (const line of lines) {
      if (line.t === 'intent') intents.set(line.taskId, line);
      else if (line.t === 'commit') {
        const intent = intents.get(line.taskId);
        if (intent) committed.set(line.taskId, toCommitted(intent));
      } else if (line.t === 'baseline') journal.#baseline.set(line.path, line.existed);
    }
    for (const [taskId, intent] of intents) {
      if (committed.has(taskId) || !(await onDisk(workspace, intent.files))) continue;
      committed.set(taskId, toCommitted(intent));
      await journal.#append({ t: 'commit', taskId }, true);
    }
    // The committed tasks' bytes must still be there: what the last committed writer of each path wrote.
    // Intents in journal order (a path's writers commit one after another, in that order).
    const expected = new Map<string, string | null>();
    for (const line of lines) {
      if (line.t !== 'intent' || intents.get(line.taskId) !== line || !committed.has(line.taskId)) continue;
      for (const [rel, digest] of Object.entries(line.files)) expected.set(rel, digest);
    }
    const changed = await changedOnDisk(workspace, expected);
    if (changed.length > 0) {
      await journal.close();
      throw new ResumeWorkspaceChangedError(dir, changed);
    }
    return { journal, committed };
  }

  /**
   * Puts the content every path had before the journal's run back into `target` (a copy of the workspace):
   * what the run changed is undone there, so a replay reads what the run read. Returns `false` (and changes
   * nothing) when the journal is missing or of another feature.
   */
  static async restoreBaseline(dir: string, target: string, expect: { feature: string }): Promise<boolean> {
    const text = await readFile(path.join(dir, 'journal.jsonl'), 'utf8').catch(
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      },
    );
    if (text === undefined) return false;
    const lines = parseLines(text);
    const head = lines[0];
    // The feature, not the plan digest: a replay of a changed plan undoes the last run of the same feature.
    if (head?.t !== 'run' || head.feature !== expect.feature) return false;
    for (const line of lines) {
      if (line.t !== 'baseline') continue;
      const rel = line.path.split('/');
      const into = path.join(target, ...rel);
      if (into === target || !isInside(into, target)) continue; // a hand-edited journal cannot reach outside the copy
      if (line.existed) {
        const content = await readFile(path.join(dir, 'baseline', ...rel));
        await mkdir(path.dirname(into), { recursive: true });
        await writeFile(into, content);
      } else {
        await rm(into, { force: true });
      }
    }
    return true;
  }

  /** Saves the pre-feature content of each path not saved yet. Call before the commit writes them. */
  async rememberBaseline(before: ReadonlyMap<string, Buffer | null>): Promise<void> {
    for (const [rel, content] of before) {
      if (this.#baseline.has(rel)) continue;
      this.#baseline.set(rel, content !== null);
      if (content !== null) {
        const copy = path.join(this.#baselineDir, ...rel.split('/'));
        await mkdir(path.dirname(copy), { recursive: true });
        await writeFile(copy, content);
      }
      await this.#append({ t: 'baseline', path: rel, existed: content !== null });
    }
  }

  /** Journals (durably) what a commit is about to write. Call before the spool commits. */
  intent(taskId: string, editsDigest: string, files: Record<string, string | null>): Promise<void> {
    return this.#append({ t: 'intent', taskId, editsDigest, files }, true);
  }

  /** Journals (durably) that a commit reached the disk. Call once the spool's commit returned. */
  committed(taskId: string): Promise<void> {
    return this.#append({ t: 'commit', taskId }, true);
  }

  /**
   * Starts the diff of `paths` against their baseline now, while the run goes on, so that {@link diff} at the
   * end only joins them. A later commit of the same path starts it again (the latest one is kept).
   */
  diffLater(workspace: string, paths: readonly string[]): void {
    for (const rel of paths) {
      const diff = this.#diffOf(workspace, rel);
      diff.catch(() => {}); // diff() computes it again
      this.#diffs.set(rel, diff);
    }
  }

  #diffOf(workspace: string, rel: string): Promise<string> {
    return (async () => {
      const copy = path.join(this.#baselineDir, ...rel.split('/'));
      const before = this.#baseline.get(rel) ? await readOrNull(copy) : null;
      return unifiedDiff(rel, before, await readOrNull(path.join(workspace, ...rel.split('/'))));
    })();
  }

  /** The unified diff of every path the feature changed, against its content before the feature. */
  async diff(workspace: string): Promise<string> {
    const paths = [...this.#baseline.keys()].sort();
    const parts: string[] = [];
    // A few files at a time: in path order, without holding every file of a large feature at once.
    for (let i = 0; i < paths.length; i += DIFF_BATCH) {
      parts.push(
        ...(await Promise.all(
          paths
            .slice(i, i + DIFF_BATCH)
            .map((rel) =>
              (this.#diffs.get(rel) ?? this.#diffOf(workspace, rel)).catch(() =>
                this.#diffOf(workspace, rel),
              ),
            ),
        )),
      );
    }
    return parts.join('');
  }

  /** Flushes and closes the file. */
  async close(): Promise<void> {
    await this.#tail;
    await this.#handle.sync().catch(() => {});
    await this.#handle.close();
  }

  /** Appends a line (`null`: just a newline); `durable`: fsynced before the promise resolves (a write-ahead step). */
  #append(line: Line | null, durable = false): Promise<void> {
    const text = line === null ? '\n' : `${JSON.stringify(line)}\n`;
    this.#tail = this.#tail.then(async () => {
      await this.#handle.appendFile(text);
      if (durable) await this.#handle.datasync();
    });
    return this.#tail;
  }
}

function parseLines(text: string): Line[] {
  const out: Line[] = [];
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    try {
      out.push(JSON.parse(raw) as Line);
    } catch {
      // a torn line from a crash mid-append: the step it describes did not finish
    }
  }
  return out;
}

function toCommitted(intent: IntentLine): CommittedTask {
  return { taskId: intent.taskId, editsDigest: intent.editsDigest, files: Object.keys(intent.files).sort() };
}

async function onDisk(workspace: string, files: Record<string, string | null>): Promise<boolean> {
  return (await changedOnDisk(workspace, new Map(Object.entries(files)))).length === 0;
}

/** The paths whose bytes on disk are not `expected` (sha256, `null`: absent), in path order. */
async function changedOnDisk(
  workspace: string,
  expected: ReadonlyMap<string, string | null>,
): Promise<string[]> {
  const changed: string[] = [];
  for (const [rel, digest] of expected) {
    const bytes = await readOrNull(path.join(workspace, ...rel.split('/')));
    if ((bytes === null ? null : sha256(bytes)) !== digest) changed.push(rel);
  }
  return changed.sort();
}
