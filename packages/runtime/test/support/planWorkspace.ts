import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** A small feature: 3 shell tasks in 2 levels over two files. */
export const THREE_TASKS = `feature: demo
tasks:
  - id: greet
    files: [greeting.txt]
    run: { shell: "printf 'hello\\\\n' > greeting.txt" }
  - id: count
    files: [count.txt]
    run: { shell: "printf '1\\\\n' > count.txt" }
  - id: shout
    deps: [greet]
    files: [greeting.txt]
    run: { shell: "tr a-z A-Z < greeting.txt > out && mv out greeting.txt" }
`;

/** Writes `files` (path → content) under `root`, creating directories. */
export async function writeFiles(root: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), content);
  }
}
