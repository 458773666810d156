// Sums vitest JSON reports into the closing line CI reads: `tests: N passed, N failed`.
// Usage: node scripts/sum-test-reports.mjs <label>=<glob-free list of report files, comma-separated> …
// A test file that failed to load counts as one failed test, so a broken suite can never read as green.
import { existsSync, readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const arg of process.argv.slice(2)) {
  const [label, list = ''] = arg.split('=');
  const totals = { passed: 0, failed: 0, skipped: 0, files: 0 };
  for (const file of list.split(',').filter(Boolean)) {
    if (!existsSync(file)) {
      console.log(
        `${label}: report ${file} is missing (the run crashed before writing it): counted as 1 failed`,
      );
      totals.failed += 1;
      continue;
    }
    const report = JSON.parse(readFileSync(file, 'utf8'));
    totals.files += 1;
    totals.passed += report.numPassedTests;
    totals.failed += report.numFailedTests;
    totals.skipped += report.numPendingTests + report.numTodoTests;
    for (const suite of report.testResults ?? []) {
      const failedInside = (suite.assertionResults ?? []).some((a) => a.status === 'failed');
      if (suite.status === 'failed' && !failedInside) {
        console.log(`${label}: ${suite.name} failed to run: ${String(suite.message).split('\n')[0]}`);
        totals.failed += 1;
      }
    }
  }
  console.log(`${label}: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
  passed += totals.passed;
  failed += totals.failed;
  skipped += totals.skipped;
}
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
