// Checks the package graph DESIGN.md fixes: contracts depends on nothing, the four capability packages on
// contracts only, and only the runtime (and examples) may depend on capability packages.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'ordo-graph-'));
const file = join(dir, 'graph.json');
execFileSync('pnpm', ['nx', 'graph', `--file=${file}`], { stdio: 'ignore' });
const { graph } = JSON.parse(readFileSync(file, 'utf8'));
rmSync(dir, { recursive: true, force: true });
const capabilities = ['@ordo/kernel-scheduler', '@ordo/executor-spool', '@ordo/governance', '@ordo/launcher'];
const problems = [];
for (const [project, deps] of Object.entries(graph.dependencies)) {
  const internal = deps.map((d) => d.target).filter((t) => graph.nodes[t]);
  if (project === '@ordo/contracts' && internal.length) problems.push(`${project} must depend on nothing`);
  if (capabilities.includes(project)) {
    const extra = internal.filter((t) => t !== '@ordo/contracts');
    if (extra.length) problems.push(`${project} may depend on @ordo/contracts only, not ${extra.join(', ')}`);
  }
  console.log(`${project} -> ${internal.join(', ') || '(nothing)'}`);
}
if (problems.length) {
  console.error(`package graph breaks DESIGN.md:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log('package graph: ok');
