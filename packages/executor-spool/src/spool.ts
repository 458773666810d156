import { isUtf8 } from 'node:buffer';
import { mkdtemp, realpath, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Clock, type KeyedMutex, type Logger, noopLogger, systemClock } from '@ordo/contracts';
import { DiffCache, type DiffCacheOptions, type DiffCacheStats } from './diffCache.js';
import { SpoolError, SpoolErrorCode, type SpoolIssue, SpoolValidationError } from './errors.js';
import {
  type CommitFile,
  commitFiles,
  discardPrepared,
  type PreparedFiles,
  prepareFiles,
  recoverCommits,
} from './internal/atomicCommit.js';
import { JOURNAL_DIR } from './internal/commitSupport.js';
import {
  ABSENT_ID,
  type BaseInfo,
  type ByteSource,
  blobId,
  type Content,
  ContentStore,
  contentBytes,
  contentChunks,
  fdSource,
  fileInfo,
  openRegular,
  openSource,
  readAllFd,
  type SpoolData,
  signatureOf,
} from './internal/content.js';
import { closeFd, readFd } from './internal/fd.js';
import { commitInPlace, recoverInPlaceCommits } from './internal/inPlaceCommit.js';
import { rootKey } from './internal/journalKey.js';
import { untrustedError } from './internal/journalSchema.js';
import { createLimiter, type Limiter } from './internal/limiter.js';
import { normalizeSpoolPath, resolveInside } from './internal/paths.js';
import { type NodeId, Tree } from './internal/tree.js';
import { createKeyedMutex } from './keyedMutex.js';
import {
  type DiffSide,
  diffTextFallback,
  type UnifiedDiffOptions,
  unifiedDiffChunks,
} from './unifiedDiff.js';

export type { SpoolData } from './internal/content.js';

/** How a staged path differs from the disk. */
export type SpoolChangeKind = 'added' | 'modified' | 'deleted';

/** One staged path, as {@link Spool.touched} lists it. */
export interface SpoolTouched {
  /** Relative to the root, `/`-separated. */
  path: string;
  kind: SpoolChangeKind;
  /** Staged size in bytes (0 for a delete). */
  size: number;
  /** Size on disk when the edit was staged (0 for an add). */
  baseSize: number;
}

/** What a validator is given: one staged change, with lazy access to its content. */
export interface SpoolChange extends SpoolTouched {
  /** The staged bytes (`undefined` for a delete). Loads a spilled file whole: mind `size`. */
  bytes(): Promise<Buffer | undefined>;
  /** The staged content as UTF-8 text (`undefined` for a delete). */
  text(): Promise<string | undefined>;
  /** The change's unified diff as text (memoized; see {@link Spool.diff}). */
  diff(): Promise<string>;
  /** The change's unified diff as bytes, exact for any encoding (memoized). */
  diffBytes(): Promise<Buffer>;
}

/** An issue as a validator reports it: a message, or a message with a line. */
export type SpoolValidatorIssue = string | { message: string; line?: number | undefined };

/**
 * Checks one staged change and returns its issues (none: an empty array). Sync or async. Results are
 * memoized per (path, base, staged content), so a validator must depend on its input only.
 */
export type SpoolValidator = (
  change: SpoolChange,
) => readonly SpoolValidatorIssue[] | Promise<readonly SpoolValidatorIssue[]>;

/** What the commit gate is shown once every validator has passed. */
export interface SpoolCommitSummary {
  /** Every staged change, in path order. */
  changes: readonly SpoolTouched[];
  /** Bytes the commit would write. */
  bytes: number;
}

/** The last word before a commit writes: return `false` to block it (`SPOOL_VALIDATION_FAILED`). */
export type SpoolCommitGate = (summary: SpoolCommitSummary) => boolean | Promise<boolean>;

/** Replaces a file's content: given the current text (`undefined` if absent), returns the new data or `null` to delete it. */
export type SpoolReplacer = (current: string | undefined) => SpoolData | null | Promise<SpoolData | null>;

/** One operation of {@link Spool.batch}. */
export type SpoolOp =
  | { op: 'write'; path: string; data: SpoolData }
  | { op: 'replace'; path: string; fn: SpoolReplacer }
  | { op: 'remove'; path: string };

/**
 * How {@link Spool.commit} puts files in place.
 *
 * - `'rename'`: each file's new content goes to a temp file that is renamed over it, with a hard-link backup
 *   of the old one. Atomic per file for readers (a reader sees the old file or the new one, never half of
 *   one) and all or nothing across crashes; costs a new inode per file.
 * - `'in-place'`: a rollback journal (as SQLite's) first takes every file's old bytes and mode, in one file
 *   fsynced once; then each file is overwritten in place (`O_TRUNC`, write, close). All or nothing across
 *   crashes and failures (the journal rolls it back), and no new inode, so many small files commit faster;
 *   but a reader during the commit may see a file half written, and a file's inode, hard links and owner
 *   stay (which `'rename'` replaces). A commit with any file above `spillThresholdBytes` (staged or on
 *   disk) uses `'rename'` whole: journalling large files would write them twice.
 */
export type SpoolCommitMode = 'rename' | 'in-place';

/** Options of {@link createSpool}. */
export interface SpoolOptions {
  /** The directory the spool's paths are relative to. It must exist. */
  root: string;
  /**
   * Checks run on every staged change before a commit, in the order given.
   * @default []
   */
  validators?: readonly SpoolValidator[] | undefined;
  /**
   * Runs after the validators pass; `false` blocks the commit.
   * @default undefined (no gate)
   */
  commitGate?: SpoolCommitGate | undefined;
  /**
   * Largest file the spool reads or stages; larger ones fail with `SPOOL_TOO_LARGE`.
   * @default 1073741824 (1 GiB)
   */
  maxFileBytes?: number | undefined;
  /**
   * Staged content above this size is spilled to a temp file instead of staying in the heap.
   * @default 8388608 (8 MiB)
   */
  spillThresholdBytes?: number | undefined;
  /**
   * Where spill files go (in a `ordo-spool-*` directory made on first spill, removed by `close()`).
   * @default os.tmpdir()
   */
  spillDir?: string | undefined;
  /**
   * The memo of diffs and validator results: a shared {@link DiffCache}, the sizes of a new one, or `false`
   * for no memo.
   * @default a new DiffCache with its default sizes
   */
  diffCache?: DiffCache | DiffCacheOptions | false | undefined;
  /**
   * How diffs are made (context lines, the largest file diffed whole in memory).
   * @default { context: 3 }
   */
  diff?: UnifiedDiffOptions | undefined;
  /**
   * Operations on disjoint paths that run at once (per spool). Operations on one path always run in order.
   * @default 16
   */
  concurrency?: number | undefined;
  /**
   * The per-path locks a commit takes, keyed by real absolute path. Give every spool of one tree the same
   * one.
   * @default one mutex shared by every spool of the process
   */
  mutex?: KeyedMutex | undefined;
  /**
   * fsync the journal, each replacement file, the backups before the first rename, and each directory the
   * commit touched (once each); in `'in-place'` mode, the rollback journal (once), each file written, and
   * each directory where a file was created or deleted. Turn off only for scratch trees.
   * @default true
   */
  fsync?: boolean | undefined;
  /**
   * How a commit puts files in place: temp file and rename, or overwrite in place with a rollback journal.
   * See {@link SpoolCommitMode} for the trade-off.
   * @default 'rename'
   */
  commitMode?: SpoolCommitMode | undefined;
  /**
   * Where this user's journal secret lives (a 0600 file, made on the first commit): the key every journal
   * is signed with, so that recovery replays only journals a spool of this user wrote for this root. Keep it
   * outside every spool root.
   * @default $ORDO_SPOOL_KEY_DIR, else $XDG_STATE_HOME/ordo, else ~/.local/state/ordo
   */
  keyDir?: string | undefined;
  /** @default systemClock */
  clock?: Clock | undefined;
  /** @default noopLogger */
  logger?: Logger | undefined;
  /**
   * Test-only fault injection: called before each file of a commit is put in place; throwing there
   * simulates a crash half way through a commit.
   * @internal
   */
  testHooks?:
    | {
        beforeReplace?: (path: string, index: number) => void | Promise<void>;
        /**
         * Called once every file of a commit is checked and prepared (in `'in-place'` mode: once the
         * rollback journal is written), before any is replaced.
         */
        afterPrepare?: () => void | Promise<void>;
        /** In `'rename'` mode: called once every file is renamed into place, before its journal is removed. */
        afterReplace?: () => void | Promise<void>;
        /** In `'rename'` mode: called before an existing file is backed up. */
        beforeBackup?: (path: string) => void | Promise<void>;
      }
    | undefined;
}

/** What {@link Spool.commit} did. */
export interface SpoolCommitResult {
  /** The changes written, in path order. */
  committed: readonly SpoolTouched[];
  /** Bytes written to replacement files. */
  bytesWritten: number;
  /** Time the commit took, on the spool's clock. */
  durationMs: number;
}

/** Counters of a spool's memo (those of its {@link DiffCache}, which may be shared). */
export type SpoolStats = DiffCacheStats;

/** Options of operations that wait. */
export interface SpoolCallOptions {
  signal?: AbortSignal | undefined;
}

/**
 * Staged file edits over a root directory: stage, review (diff), check (validators, commit gate), then commit
 * all at once or not at all.
 */
export interface Spool extends AsyncDisposable {
  /** The root, as given to createSpool. */
  readonly root: string;
  /**
   * The staged content of `path`, else the file on disk (read from a descriptor opened through the root,
   * never following a symlink); `SPOOL_NOT_FOUND` when neither exists, `SPOOL_NOT_REGULAR` for a FIFO,
   * directory, socket or device.
   */
  read(path: string, options?: SpoolCallOptions): Promise<Buffer>;
  /** {@link Spool.read} as UTF-8 text. */
  readText(path: string, options?: SpoolCallOptions): Promise<string>;
  /** The staged or on-disk content of `path` in chunks, without holding a large file in memory. */
  stream(path: string, options?: SpoolCallOptions): AsyncIterable<Buffer>;
  /** Whether `path` exists once the staged edits are applied. */
  exists(path: string, options?: SpoolCallOptions): Promise<boolean>;
  /**
   * Stages new content for `path` (created on commit when missing). An edit back to the disk content is
   * dropped. `SPOOL_NOT_REGULAR` when a FIFO, directory, socket or device stands at `path` (never blocks).
   */
  write(path: string, data: SpoolData, options?: SpoolCallOptions): Promise<void>;
  /** Stages `fn(current text)`; `null` from `fn` stages a delete. */
  replace(path: string, fn: SpoolReplacer, options?: SpoolCallOptions): Promise<void>;
  /** Stages the deletion of `path` (no-op when it exists nowhere). */
  remove(path: string, options?: SpoolCallOptions): Promise<void>;
  /**
   * Applies several operations at once: the edits of each path are coalesced into its final state before
   * anything is staged (intermediate writes are never materialized), and a final state equal to the disk is
   * dropped. All or nothing: a bad path or a failing replacer stages none of the batch.
   */
  batch(ops: readonly SpoolOp[], options?: SpoolCallOptions): Promise<void>;
  /** Every staged path in path order. */
  touched(): SpoolTouched[];
  /** Discards staged edits (of `paths`, or all); removes their spill files, writes nothing to the tree. */
  reset(paths?: readonly string[], options?: SpoolCallOptions): Promise<void>;
  /**
   * The git-compatible unified diff of `path`, or of every staged path (memoized), as text. A file whose
   * diff is not valid UTF-8 (Latin-1 text, say) appears as a `GIT binary patch`, exact under `git apply`;
   * {@link Spool.diffBytes} gives its text diff.
   */
  diff(path?: string, options?: SpoolCallOptions): Promise<string>;
  /** {@link Spool.diff} as bytes: exactly `git diff --no-index`'s output, for any encoding. */
  diffBytes(path?: string, options?: SpoolCallOptions): Promise<Buffer>;
  /** {@link Spool.diff} in chunks: headers, then one chunk per hunk. */
  diffStream(path?: string, options?: SpoolCallOptions): AsyncIterable<string>;
  /** Runs the validators (memoized) and returns every issue, by path. */
  validate(options?: SpoolCallOptions): Promise<SpoolIssue[]>;
  /**
   * Validates, asks the gate, then writes every staged change, all or nothing, under per-path locks (each
   * file atomically for readers too unless `commitMode` is `'in-place'`). Throws
   * `SPOOL_VALIDATION_FAILED`, `SPOOL_CONFLICT` (a file changed on disk since it was staged; nothing written),
   * `SPOOL_PATH_ESCAPE` (also when a directory on the way was swapped for a symlink meanwhile), or
   * `SPOOL_COMMIT_FAILED` (a write failed; replaced files restored). On success the
   * spool is empty.
   */
  commit(options?: SpoolCallOptions): Promise<SpoolCommitResult>;
  /**
   * Does the durable first half of the next {@link Spool.commit} now, without locks and without touching a
   * file of the tree: writes the commit's journal and every replacement temp file (fsynced when `fsync`).
   * The commit then only checks, backs up, renames and fsyncs the directories, so a host that commits in a
   * fixed order spends less time in its ordered section. Nothing is validated here: the commit still runs
   * the validators and the gate, checks every file against the disk, and renames only the very temp files
   * prepared (same inode, size and change time; else `SPOOL_COMMIT_FAILED`). Staging, resetting or deleting
   * any path afterwards voids the preparation (the commit then writes everything itself), and `close()`
   * removes an unused one; so does recovery after a crash. A no-op in `'in-place'` mode or with nothing
   * staged.
   * @example
   * await spool.write('a.txt', 'new');
   * await spool.prepare(); // while other work goes on
   * await spool.commit(); // the short part
   */
  prepare(options?: SpoolCallOptions): Promise<void>;
  /** Memo counters. */
  stats(): SpoolStats;
  /** Discards every staged edit and removes the spill directory. Further calls fail with `SPOOL_CLOSED`. */
  close(): Promise<void>;
}

interface Entry {
  readonly path: string;
  readonly abs: string;
  /** On disk when first staged; `undefined`: absent. */
  readonly base: BaseInfo | undefined;
  /** `null`: staged delete. */
  readonly staged: Content | null;
}

type PathState = { abs: string; base: BaseInfo | undefined; current: Content | null | 'disk' };

const processMutex = createKeyedMutex();

const kindOf = (entry: Entry): SpoolChangeKind =>
  entry.staged === null ? 'deleted' : entry.base ? 'modified' : 'added';

const touchedOf = (entry: Entry): SpoolTouched => ({
  path: entry.path,
  kind: kindOf(entry),
  size: entry.staged?.size ?? 0,
  baseSize: entry.base?.size ?? 0,
});

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new SpoolError(
      SpoolErrorCode.INVALID_ARGUMENT,
      `createSpool: ${name} must be a finite number >= 0, got ${String(value)}.`,
    );
  }
  return value;
}

/** Runs `fn` holding every key, taken in sorted order so two holders never deadlock. */
function withLocks<T>(
  mutex: KeyedMutex,
  keys: readonly string[],
  fn: () => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const sorted = [...new Set(keys)].sort();
  const take = (i: number): Promise<T> =>
    i === sorted.length ? fn() : mutex.runExclusive(sorted[i] as string, () => take(i + 1), signal);
  return take(0);
}

/**
 * Creates a spool of staged file edits over `root`.
 *
 * When to use: whenever agents or tools propose file changes that must be reviewed (diff), checked
 * (validators, commit gate) and written safely while others work on the same tree.
 *
 * Gotchas: locks exclude spools of this process only (share `mutex` if you make your own); spools in other
 * processes are caught by the conflict check, which compares blob ids just before writing. `read`,
 * `replace` and validators' `bytes()` load a file whole: use `stream` and `write` with an AsyncIterable for
 * very large files.
 *
 * @example
 * ```ts
 * await using spool = createSpool({ root: '/repo', validators: [noTabs] });
 * await spool.replace('src/a.ts', (text = '') => text.replace('var ', 'let '));
 * console.log(await spool.diff());
 * const { committed } = await spool.commit();
 * ```
 */
export function createSpool(options: SpoolOptions): Spool {
  if (typeof options?.root !== 'string' || options.root === '') {
    throw new SpoolError(
      SpoolErrorCode.INVALID_ARGUMENT,
      'createSpool: root must be the path of an existing directory.',
    );
  }
  const maxFileBytes = positive('maxFileBytes', options.maxFileBytes, 1024 ** 3);
  const threshold = positive('spillThresholdBytes', options.spillThresholdBytes, 8 * 1024 ** 2);
  const concurrency = Math.max(1, positive('concurrency', options.concurrency, 16));
  const validators = [...(options.validators ?? [])];
  for (const v of [...validators, options.commitGate ?? (() => true)]) {
    if (typeof v !== 'function') {
      throw new SpoolError(
        SpoolErrorCode.INVALID_ARGUMENT,
        'createSpool: validators and commitGate must be functions.',
      );
    }
  }
  const cache =
    options.diffCache === false
      ? undefined
      : options.diffCache instanceof DiffCache
        ? options.diffCache
        : new DiffCache(options.diffCache ?? {});
  const ownStats: DiffCacheStats = { diffsComputed: 0, diffHits: 0, validationsRun: 0, validationHits: 0 };
  const mutex = options.mutex ?? processMutex;
  const fsync = options.fsync ?? true;
  const commitMode = options.commitMode ?? 'rename';
  if (commitMode !== 'rename' && commitMode !== 'in-place') {
    throw new SpoolError(
      SpoolErrorCode.INVALID_ARGUMENT,
      `createSpool: commitMode must be 'rename' or 'in-place', got ${JSON.stringify(commitMode)}.`,
    );
  }
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? noopLogger;
  const diffOptions = options.diff ?? {};
  positive('diff.context', diffOptions.context, 3);
  positive('diff.maxEditLength', diffOptions.maxEditLength, 2000);
  positive('diff.timeoutMs', diffOptions.timeoutMs, 0);
  positive('diff.maxWindowBytes', diffOptions.maxWindowBytes, 0);
  const hooks = options.testHooks ?? {};

  const entries = new Map<string, Entry>();
  const pathLocks = createKeyedMutex();
  const limit: Limiter = createLimiter(concurrency);
  let closed = false;
  let spillDir: Promise<string> | undefined;
  let spillPath: string | undefined;
  const keyDir = options.keyDir;
  // The real root and its device and inode, once commits a crashed process left half done under it are
  // rolled back (an untrusted journal there fails every operation with SPOOL_JOURNAL_UNTRUSTED).
  const rootInfo: Promise<{ real: string; id: NodeId }> = realpath(options.root)
    .then(async (real) => {
      if (!(await stat(real)).isDirectory()) throw new Error('not a directory');
      return real;
    })
    .catch((error: unknown) => {
      throw new SpoolError(
        SpoolErrorCode.INVALID_ARGUMENT,
        `createSpool: root ${options.root} is not an existing directory.`,
        { cause: error },
      );
    })
    .then(async (real) => {
      const tree = await Tree.open(real);
      try {
        const id = await tree.rootId();
        await recoverTree(tree, logger, keyDir);
        return { real, id };
      } finally {
        await tree.close();
      }
    });
  rootInfo.catch(() => {});
  const realRoot = rootInfo.then((r) => r.real);
  realRoot.catch(() => {});
  /** Runs `fn` on the root opened (every path below it reached through descriptors), closed after. */
  const withTree = async <T>(fn: (tree: Tree) => Promise<T>): Promise<T> => {
    const { real, id } = await rootInfo;
    const tree = await Tree.open(real, id);
    try {
      return await fn(tree);
    } finally {
      await tree.close();
    }
  };
  /** The real path `abs` relative to the real root, `/`-separated. */
  const relOf = (root: string, abs: string) => path.relative(root, abs).split(path.sep).join('/');
  /** The bytes on disk of the regular file at the real path `abs` (`undefined` if missing), read race-free. */
  const readDisk = async (rel: string, abs: string, shared?: Tree): Promise<Buffer | undefined> => {
    const root = await realRoot;
    const read = async (tree: Tree) => {
      const at = await tree.at(relOf(root, abs));
      if (at === undefined) return undefined;
      const bytes = await store.readAt(rel, at);
      // A shared tree (a batch) is checked once, when all its reads are done.
      if (!shared) await tree.verify();
      return bytes;
    };
    return shared ? read(shared) : withTree(read);
  };
  const store = new ContentStore(threshold, maxFileBytes, () => {
    spillDir ??= mkdtemp(path.join(options.spillDir ?? tmpdir(), 'ordo-spool-')).then((dir) => {
      spillPath = dir;
      return dir;
    });
    return spillDir;
  });
  const discard = (content: Content | null | undefined) => store.discard(content ?? undefined, spillPath);

  const assertOpen = () => {
    if (closed)
      throw new SpoolError(
        SpoolErrorCode.CLOSED,
        'The spool is closed. Create a new one with createSpool().',
      );
  };

  /** Runs `fn` on one normalized path: in order with other calls on it, in parallel (bounded) with others. */
  const onPath = async <T>(
    p: string,
    signal: AbortSignal | undefined,
    fn: (rel: string) => Promise<T>,
  ): Promise<T> => {
    assertOpen();
    signal?.throwIfAborted();
    const rel = normalizeSpoolPath(p);
    return pathLocks.runExclusive(rel, () => limit(() => fn(rel)), signal);
  };

  /**
   * What `rel` is now: staged, or on disk (hashed through the root's descriptors). With `shared` (a batch's
   * tree), the caller checks the tree's directories once at the end.
   */
  const stateOf = async (rel: string, shared?: Tree): Promise<PathState> => {
    const entry = entries.get(rel);
    if (entry) return { abs: entry.abs, base: entry.base, current: entry.staged };
    const root = await realRoot;
    const abs = await resolveInside(root, rel);
    const hash = async (tree: Tree) => {
      const at = await tree.at(relOf(root, abs));
      const found = at === undefined ? undefined : await store.baseOf(rel, at);
      if (!shared) await tree.verify();
      return found;
    };
    const base = await (shared ? hash(shared) : withTree(hash));
    return { abs, base, current: base ? 'disk' : null };
  };

  const notFound = (rel: string) =>
    new SpoolError(
      SpoolErrorCode.NOT_FOUND,
      `${rel} does not exist (on disk or staged). Check the path, or write it first.`,
      {
        details: { path: rel },
      },
    );

  const currentBytes = async (rel: string, state: PathState, shared?: Tree): Promise<Buffer | undefined> => {
    if (state.current === null) return undefined;
    if (state.current !== 'disk') return contentBytes(state.current);
    // The bytes the base was hashed from, while the garbage collector keeps them; else read again.
    const held = state.base?.bytes?.deref();
    if (held) return held;
    const bytes = await readDisk(rel, state.abs, shared);
    if (bytes === undefined || blobId(bytes) !== state.base?.id) throw conflict([rel], 'while it was read');
    return bytes;
  };

  /** Records `next` as the staged state of `rel`, or drops the entry when it equals the base. */
  const stage = async (rel: string, state: PathState, next: Content | null) => {
    const old = entries.get(rel);
    if (old && old.staged !== next) await discard(old.staged);
    const same = next === null ? state.base === undefined : state.base?.id === next.id;
    if (same) {
      entries.delete(rel);
      await discard(next);
    } else {
      entries.set(rel, { path: rel, abs: state.abs, base: state.base, staged: next });
    }
  };

  const applyReplacer = async (
    rel: string,
    fn: SpoolReplacer,
    current: Buffer | undefined,
    signal?: AbortSignal,
  ) => {
    if (typeof fn !== 'function') {
      throw new SpoolError(
        SpoolErrorCode.INVALID_ARGUMENT,
        `replace(${JSON.stringify(rel)}) takes a function.`,
        { details: { path: rel } },
      );
    }
    const next = await fn(current?.toString('utf8'));
    return next === null ? null : store.fromData(rel, next, signal);
  };

  const diffKey = (entry: Entry) =>
    `${entry.path}\0${entry.base?.id ?? ABSENT_ID}\0${entry.base?.mode ?? ''}\0${entry.staged?.id ?? ABSENT_ID}`;

  /** Both sides of an entry's diff, open; closed by `use`'s end. */
  const withSides = async <T>(entry: Entry, use: (a: DiffSide, b: DiffSide) => Promise<T>): Promise<T> => {
    let a: DiffSide = { source: null, id: ABSENT_ID, mode: 0o644 };
    let b: DiffSide = { source: null, id: ABSENT_ID, mode: entry.base?.mode ?? 0o644 };
    try {
      if (entry.base) {
        const base = entry.base;
        const root = await realRoot;
        // The file opened through the tree (no symlink followed), and still the one that was hashed.
        const source = await withTree(async (tree): Promise<ByteSource> => {
          const at = await tree.at(relOf(root, entry.abs));
          const opened = at === undefined ? undefined : await openRegular(entry.path, at);
          if (opened) {
            await tree.verify().catch(async (error: unknown) => {
              await closeFd(opened.fd);
              throw error;
            });
          }
          if (opened?.info && signatureOf(opened.info) === base.signature) {
            const held = base.bytes?.deref();
            if (!held) return fdSource(opened.fd, base.size);
            await closeFd(opened.fd);
            return openSource({ size: base.size, buffer: held });
          }
          if (opened) await closeFd(opened.fd);
          throw conflict([entry.path], 'before it could be diffed');
        });
        a = { source, id: base.id, mode: base.mode };
      }
      if (entry.staged) b = { ...b, source: await openSource(entry.staged), id: entry.staged.id };
      return await use(a, b);
    } finally {
      await a.source?.close();
      await b.source?.close();
    }
  };

  /**
   * The entry's diff: its chunks when computed now (one per hunk), else the memo. The memo keeps a diff that
   * is valid UTF-8 as text (the common case, served to `diff()` as is) and any other as bytes.
   */
  const computeDiff = async (entry: Entry, signal?: AbortSignal): Promise<string | Buffer[]> => {
    const key = diffKey(entry);
    const hit = cache?.getDiff(key);
    if (hit !== undefined) return typeof hit === 'string' ? hit : [hit];
    const parts = await withSides(entry, async (a, b) => {
      const out: Buffer[] = [];
      for await (const chunk of unifiedDiffChunks(entry.path, a, b, diffOptions)) {
        signal?.throwIfAborted();
        out.push(chunk);
      }
      return out;
    });
    if (cache) {
      const bytes = Buffer.concat(parts);
      cache.setDiff(key, isUtf8(bytes) ? bytes.toString('utf8') : bytes);
    } else ownStats.diffsComputed++;
    return parts;
  };

  /** The entry's diff as bytes, in chunks. */
  async function* entryDiff(entry: Entry, signal?: AbortSignal): AsyncGenerator<Buffer> {
    const diff = await computeDiff(entry, signal);
    if (typeof diff === 'string') yield Buffer.from(diff, 'utf8');
    else yield* diff;
  }

  /** The entry's diff as text chunks: UTF-8, or a `GIT binary patch` when the diff is not valid UTF-8. */
  async function* entryDiffText(entry: Entry, signal?: AbortSignal): AsyncGenerator<string> {
    const diff = await computeDiff(entry, signal);
    if (typeof diff === 'string') {
      yield diff;
      return;
    }
    if (diff.every((part) => isUtf8(part))) {
      for (const part of diff) yield part.toString('utf8');
      return;
    }
    yield await withSides(entry, (a, b) => diffTextFallback(entry.path, a, b));
  }

  const selected = (p: string | undefined): Entry[] => {
    if (p === undefined)
      return [...entries.values()].sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const entry = entries.get(normalizeSpoolPath(p));
    return entry ? [entry] : [];
  };

  async function* diffStream(p?: string, opts: SpoolCallOptions = {}): AsyncGenerator<string> {
    assertOpen();
    opts.signal?.throwIfAborted();
    for (const entry of selected(p)) yield* entryDiffText(entry, opts.signal);
  }

  const diffText = async (entry: Entry, signal?: AbortSignal) => {
    let text = '';
    for await (const chunk of entryDiffText(entry, signal)) text += chunk;
    return text;
  };

  const diffBytes = async (entries: readonly Entry[], signal?: AbortSignal) => {
    const parts: Buffer[] = [];
    for (const entry of entries) for await (const chunk of entryDiff(entry, signal)) parts.push(chunk);
    return Buffer.concat(parts);
  };

  const changeOf = (entry: Entry, signal?: AbortSignal): SpoolChange => ({
    ...touchedOf(entry),
    bytes: async () => (entry.staged ? contentBytes(entry.staged) : undefined),
    text: async () => (entry.staged ? (await contentBytes(entry.staged)).toString('utf8') : undefined),
    diff: () => diffText(entry, signal),
    diffBytes: () => diffBytes([entry], signal),
  });

  const sourceName = (v: SpoolValidator, i: number) => v.name || `validator ${i}`;

  const runValidators = async (list: readonly Entry[], signal?: AbortSignal): Promise<SpoolIssue[]> => {
    const issues: SpoolIssue[] = [];
    for (const [i, validator] of validators.entries()) {
      for (const entry of list) {
        signal?.throwIfAborted();
        const run = async (): Promise<readonly SpoolIssue[]> => {
          const found = await validator(changeOf(entry, signal));
          if (!Array.isArray(found)) {
            throw new SpoolError(
              SpoolErrorCode.INVALID_ARGUMENT,
              `${sourceName(validator, i)} must return an array of issues.`,
            );
          }
          return found.map((issue) =>
            typeof issue === 'string'
              ? { path: entry.path, message: issue, source: sourceName(validator, i) }
              : {
                  path: entry.path,
                  message: issue.message,
                  line: issue.line,
                  source: sourceName(validator, i),
                },
          );
        };
        if (cache) issues.push(...(await cache.validation(validator, diffKey(entry), run)));
        else {
          ownStats.validationsRun++;
          issues.push(...(await run()));
        }
      }
    }
    return issues.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
  };

  const conflict = (paths: readonly string[], when: string) =>
    new SpoolError(
      SpoolErrorCode.CONFLICT,
      `${paths.join(', ')} changed on disk since it was staged, ${when}; nothing was written. Reset ${paths.length > 1 ? 'them' : 'it'} (spool.reset([...])), stage the edit again on the new content, and commit.`,
      { details: { path: paths[0], paths } },
    );

  const commitFilesOf = (root: string, list: readonly Entry[]) =>
    list.map((entry) => ({
      entry,
      path: entry.path,
      rel: relOf(root, entry.abs),
      content: entry.staged,
      existed: entry.base !== undefined,
      mode: entry.base?.mode,
    }));

  /** The last {@link Spool.prepare}: the entries it was made of and what it wrote. */
  let prepared: { list: Entry[]; files: PreparedFiles } | undefined;
  /** Prepares and discards one at a time, so that none is lost track of. */
  let preparing: Promise<unknown> = Promise.resolve();

  /** Removes an unused preparation's journal and temp files (a failure is logged: recovery removes them). */
  const dropPrepared = async () => {
    const old = prepared;
    if (old === undefined) return;
    prepared = undefined;
    const root = await realRoot;
    try {
      const tree = await Tree.open(root, (await rootInfo).id);
      try {
        await discardPrepared(commitFilesOf(root, old.list) as CommitFile[], old.files, { tree, limit });
      } finally {
        await tree.close();
      }
    } catch (error) {
      logger.warn({ err: error }, 'removing an unused prepared commit failed; the next recovery removes it');
    }
  };

  const prepareNow = async (signal?: AbortSignal) => {
    await dropPrepared();
    const list = selected(undefined);
    if (commitMode === 'in-place' || list.length === 0) return;
    signal?.throwIfAborted();
    const root = await realRoot;
    const key = (await rootKey(root, keyDir)) as Buffer;
    const tree = await Tree.open(root, (await rootInfo).id);
    try {
      const files = await prepareFiles(commitFilesOf(root, list), { tree, key, fsync, limit, logger });
      prepared = { list, files };
    } finally {
      await tree.close();
    }
  };

  const commitLocked = async (list: Entry[], signal?: AbortSignal): Promise<SpoolCommitResult> => {
    const started = clock.now();
    const root = await realRoot;
    const issues = await runValidators(list, signal);
    if (issues.length > 0) throw new SpoolValidationError(issues);
    const changes = list.map(touchedOf);
    const bytes = changes.reduce((sum, c) => sum + c.size, 0);
    if (options.commitGate && !(await options.commitGate({ changes, bytes }))) {
      throw new SpoolValidationError([
        { path: '(commit)', message: 'the commit gate refused the commit', source: 'commitGate' },
      ]);
    }
    signal?.throwIfAborted();
    const key = (await rootKey(root, keyDir)) as Buffer;
    // With the locks held, each file just before its replacement is written: through the root's descriptors
    // (a symlink that appeared since staging anywhere on the way is refused), then the conflict check,
    // reading the file once.
    // A preparation of exactly these entries is used; any other is removed first.
    const ready =
      prepared !== undefined &&
      prepared.list.length === list.length &&
      prepared.list.every((e, i) => e === list[i] && entries.get(e.path) === e)
        ? prepared.files
        : undefined;
    if (ready) prepared = undefined;
    else await dropPrepared();
    const tree = await Tree.open(root, (await rootInfo).id);
    try {
      const files = commitFilesOf(root, list);
      const inPlace =
        commitMode === 'in-place' &&
        list.every(
          (e) => (e.base === undefined || e.base.size <= threshold) && (e.staged === null || e.staged.buffer),
        );
      const shared = {
        tree,
        key,
        fsync,
        limit,
        logger,
        beforeReplace: hooks.beforeReplace,
        afterPrepare: hooks.afterPrepare,
      };
      const { stale } = inPlace
        ? await commitInPlace(
            files.map((f) => ({ ...f, content: f.content && (f.content.buffer as Buffer) })),
            {
              ...shared,
              verify: async ({ entry, rel }) => {
                signal?.throwIfAborted();
                const at = await tree.at(rel);
                if (at === undefined) return entry.base === undefined && 'absent';
                return store.snapshot(entry.path, at, entry.base);
              },
            },
          )
        : await commitFiles(
            files,
            {
              ...shared,
              afterReplace: hooks.afterReplace,
              beforeBackup: hooks.beforeBackup,
              verify: async ({ entry, rel }) => {
                signal?.throwIfAborted();
                const at = await tree.at(rel);
                if (at === undefined) return entry.base === undefined;
                return store.holds(entry.path, at, entry.base);
              },
            },
            ready,
          );
      if (stale.length > 0) throw conflict(stale.sort(), 'so the commit was refused');
    } finally {
      await tree.close();
    }
    for (const entry of list) {
      if (entries.get(entry.path) === entry) entries.delete(entry.path);
      await discard(entry.staged);
    }
    const durationMs = clock.now() - started;
    logger.debug({ files: list.length, bytes, durationMs }, 'spool committed');
    return { committed: changes, bytesWritten: bytes, durationMs };
  };

  /** The regular file at the real path `abs`, opened through the tree (no symlink followed), or undefined. */
  const openDisk = async (rel: string, abs: string) => {
    const root = await realRoot;
    return withTree(async (tree) => {
      const at = await tree.at(relOf(root, abs));
      const opened = at === undefined ? undefined : await openRegular(rel, at);
      if (opened) {
        await tree.verify().catch(async (error: unknown) => {
          await closeFd(opened.fd);
          throw error;
        });
      }
      return opened;
    });
  };

  const spool: Spool = {
    get root() {
      return options.root;
    },

    read: (p, opts = {}) =>
      onPath(p, opts.signal, async (rel) => {
        const entry = entries.get(rel);
        if (entry) {
          if (!entry.staged) throw notFound(rel);
          return contentBytes(entry.staged);
        }
        const opened = await openDisk(rel, await resolveInside(await realRoot, rel));
        if (!opened) throw notFound(rel);
        try {
          const { size } = opened.info;
          if (size > maxFileBytes) {
            throw new SpoolError(
              SpoolErrorCode.TOO_LARGE,
              `${rel} is larger than maxFileBytes (${size} > ${maxFileBytes} bytes). Use stream() or raise maxFileBytes.`,
              { details: { path: rel, size, maxFileBytes } },
            );
          }
          return await readAllFd(opened.fd, size);
        } finally {
          await closeFd(opened.fd);
        }
      }),

    readText: async (p, opts) => (await spool.read(p, opts)).toString('utf8'),

    async *stream(p, opts = {}) {
      const found = await onPath(p, opts.signal, async (rel) => {
        const entry = entries.get(rel);
        if (entry) {
          if (!entry.staged) throw notFound(rel);
          return entry.staged;
        }
        const opened = await openDisk(rel, await resolveInside(await realRoot, rel));
        if (!opened) throw notFound(rel);
        return opened;
      });
      if ('id' in found) {
        for await (const chunk of contentChunks(found)) {
          opts.signal?.throwIfAborted();
          yield chunk;
        }
        return;
      }
      // A file on disk: read from the descriptor opened through the tree, never by its path again.
      try {
        for (let position = 0; ; ) {
          opts.signal?.throwIfAborted();
          const chunk = Buffer.allocUnsafe(1 << 20);
          const n = await readFd(found.fd, chunk, 0, chunk.length, position);
          if (n === 0) break;
          position += n;
          yield chunk.subarray(0, n);
        }
      } finally {
        await closeFd(found.fd);
      }
    },

    exists: (p, opts = {}) =>
      onPath(p, opts.signal, async (rel) => {
        const entry = entries.get(rel);
        if (entry) return entry.staged !== null;
        const root = await realRoot;
        const abs = await resolveInside(root, rel);
        return withTree(async (tree) => {
          const at = await tree.at(relOf(root, abs));
          const found = at !== undefined && (await fileInfo(rel, at)) !== undefined;
          await tree.verify();
          return found;
        });
      }),

    write: (p, data, opts = {}) =>
      onPath(p, opts.signal, async (rel) => {
        const state = await stateOf(rel);
        await stage(rel, state, await store.fromData(rel, data, opts.signal));
      }),

    replace: (p, fn, opts = {}) =>
      onPath(p, opts.signal, async (rel) => {
        const state = await stateOf(rel);
        await stage(rel, state, await applyReplacer(rel, fn, await currentBytes(rel, state), opts.signal));
      }),

    remove: (p, opts = {}) =>
      onPath(p, opts.signal, async (rel) => {
        await stage(rel, await stateOf(rel), null);
      }),

    async batch(ops, opts = {}) {
      assertOpen();
      opts.signal?.throwIfAborted();
      if (!Array.isArray(ops))
        throw new SpoolError(SpoolErrorCode.INVALID_ARGUMENT, 'batch() takes an array of operations.');
      const byPath = new Map<string, SpoolOp[]>();
      for (const op of ops) {
        if (!op || !['write', 'replace', 'remove'].includes(op.op)) {
          throw new SpoolError(
            SpoolErrorCode.INVALID_ARGUMENT,
            `batch(): each operation needs op 'write', 'replace' or 'remove'; got ${JSON.stringify(op)}.`,
          );
        }
        const rel = normalizeSpoolPath(op.path);
        byPath.set(rel, [...(byPath.get(rel) ?? []), op]);
      }
      await withLocks(
        pathLocks,
        [...byPath.keys()],
        async () => {
          const finals: Array<{ rel: string; state: PathState; next: Content | null }> = [];
          // One tree for the whole batch: each directory is opened once, and checked once at the end.
          const tree = await Tree.open((await rootInfo).real, (await rootInfo).id);
          const results = await Promise.allSettled(
            [...byPath].map(([rel, list]) =>
              limit(async () => {
                const state = await stateOf(rel, tree);
                // Only the last write or remove matters; replacers after it run on its result.
                let from = list.length - 1;
                while (from >= 0 && list[from]?.op === 'replace') from--;
                const start = list[from];
                let next: Content | null | 'disk' =
                  start === undefined
                    ? state.current
                    : start.op === 'remove'
                      ? null
                      : await store.fromData(rel, (start as { data: SpoolData }).data, opts.signal);
                for (const op of list.slice(from + 1)) {
                  const current =
                    next === 'disk'
                      ? await currentBytes(rel, state, tree)
                      : next
                        ? await contentBytes(next)
                        : undefined;
                  const produced = await applyReplacer(
                    rel,
                    (op as { fn: SpoolReplacer }).fn,
                    current,
                    opts.signal,
                  );
                  if (next !== 'disk' && next !== state.current) await discard(next);
                  next = produced;
                }
                if (next !== 'disk' && next !== state.current) finals.push({ rel, state, next });
              }),
            ),
          );
          const checked = await tree.verify().then(
            () => undefined,
            (error: unknown) => ({ status: 'rejected' as const, reason: error }),
          );
          await tree.close();
          const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected') ?? checked;
          if (failure) {
            await Promise.all(finals.map((f) => discard(f.next)));
            throw failure.reason;
          }
          for (const { rel, state, next } of finals) await stage(rel, state, next);
        },
        opts.signal,
      );
    },

    touched: () => selected(undefined).map(touchedOf),

    async reset(paths, opts = {}) {
      assertOpen();
      const rels = paths === undefined ? [...entries.keys()] : paths.map(normalizeSpoolPath);
      await withLocks(
        pathLocks,
        rels,
        async () => {
          for (const rel of rels) {
            await discard(entries.get(rel)?.staged);
            entries.delete(rel);
          }
        },
        opts.signal,
      );
    },

    diffStream,

    async diff(p, opts = {}) {
      let text = '';
      for await (const chunk of diffStream(p, opts)) text += chunk;
      return text;
    },

    async diffBytes(p, opts = {}) {
      assertOpen();
      opts.signal?.throwIfAborted();
      return diffBytes(selected(p), opts.signal);
    },

    async validate(opts = {}) {
      assertOpen();
      return runValidators(selected(undefined), opts.signal);
    },

    async commit(opts = {}) {
      assertOpen();
      opts.signal?.throwIfAborted();
      await preparing;
      const rels = new Set(entries.keys());
      if (rels.size === 0) return { committed: [], bytesWritten: 0, durationMs: 0 };
      return withLocks(
        pathLocks,
        [...rels],
        async () => {
          const list = selected(undefined).filter((e) => rels.has(e.path));
          return withLocks(
            mutex,
            list.map((e) => e.abs),
            () => commitLocked(list, opts.signal),
            opts.signal,
          );
        },
        opts.signal,
      );
    },

    async prepare(opts = {}) {
      assertOpen();
      opts.signal?.throwIfAborted();
      const next = preparing.then(() => prepareNow(opts.signal));
      preparing = next.catch(() => {});
      await next;
    },

    stats: () => (cache ? cache.stats : { ...ownStats }),

    async close() {
      if (closed) return;
      await preparing;
      await dropPrepared();
      await spool.reset();
      closed = true;
      if (spillDir) await rm(await spillDir, { recursive: true, force: true });
    },

    [Symbol.asyncDispose]: () => spool.close(),
  };
  return spool;
}

/**
 * Rolls back the commits under `root` that a crashed process left half done: every file of such a commit is
 * put back as it was, and its temp files, backups and journal are removed. Commits still running (in this
 * process, or in a live process on this host) are left alone, and so are journals written on another host
 * (a shared file system): run the recovery there. Returns how many commits were rolled back.
 *
 * Only journals sealed with this root's key (from `keyDir`, see {@link SpoolOptions.keyDir}) and of the exact
 * schema are replayed, through the root's descriptors (nothing outside the root is touched). Any other
 * journal is left in place and, once every trusted one is handled, `SPOOL_JOURNAL_UNTRUSTED` names them all.
 *
 * When to use: `createSpool` does this on its own before its first operation; call it to repair a tree
 * without making a spool (at start-up, say).
 *
 * Gotchas: recover before moving or renaming a tree (the key is bound to the root's real path), and with the
 * same `keyDir` the spools of that tree use.
 *
 * @example
 * ```ts
 * const undone = await recoverSpool('/repo', { logger });
 * ```
 */
export async function recoverSpool(
  root: string,
  options: { logger?: Logger | undefined; keyDir?: string | undefined } = {},
): Promise<number> {
  const tree = await Tree.open(await realpath(root));
  try {
    return await recoverTree(tree, options.logger ?? noopLogger, options.keyDir);
  } finally {
    await tree.close();
  }
}

/**
 * Rolls back both kinds of interrupted commits under the tree's root; throws `SPOOL_JOURNAL_UNTRUSTED`
 * naming the journals it left in place (after handling every trusted one).
 */
async function recoverTree(tree: Tree, logger: Logger, keyDir: string | undefined): Promise<number> {
  const dir = await tree.dir(JOURNAL_DIR, { journal: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOTDIR') return undefined;
    throw error;
  });
  if (dir === undefined) return 0;
  // The key only when there is something to check: a spool that never commits makes no secret.
  const key = await rootKey(tree.root, keyDir, false);
  const rename = await recoverCommits(tree, key, logger);
  const inPlace = await recoverInPlaceCommits(tree, key, logger);
  await rmdir((await tree.at(JOURNAL_DIR)) as string).catch(() => {});
  tree.forget(JOURNAL_DIR);
  const untrusted = [...rename.untrusted, ...inPlace.untrusted];
  if (untrusted.length > 0) throw untrustedError(tree.root, untrusted);
  return rename.recovered + inPlace.recovered;
}
