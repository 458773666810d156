import path from 'node:path';

/**
 * Remembers, per directory and mode, whether a file created there with `open(file, flags, mode)` gets
 * exactly `mode`. The umask and a directory's default ACL can take bits away, so the first file of each
 * (directory, mode) pair is checked with an fstat; once a pair is known to be kept, its other files need
 * no chmod. Lives for one commit (the umask may change between commits).
 */
export class CreateModes {
  readonly #kept = new Map<string, boolean>();

  /** `true`: a file created at `file` with `mode` gets it exactly; `false`: it needs a chmod; `undefined`: not known yet. */
  lookup(file: string, mode: number): boolean | undefined {
    // open() may drop setuid, setgid and sticky bits: those always get a chmod.
    return (mode & ~0o777) === 0 ? this.#kept.get(keyOf(file, mode)) : false;
  }

  /** Records the mode a file created at `file` with `requested` got; returns whether it is `requested`. */
  record(file: string, requested: number, actual: number): boolean {
    const kept = (requested & ~0o777) === 0 && (actual & 0o7777) === requested;
    this.#kept.set(keyOf(file, requested), kept);
    return kept;
  }
}

const keyOf = (file: string, mode: number) => `${mode}:${path.dirname(file)}`;
