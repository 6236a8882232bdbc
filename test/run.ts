/**
 * Runs every compiled test file (dist/test/**\/*.test.js) with node's test runner, one file at a
 * time, streaming the spec reporter's output, and fails the run when any test failed, was
 * skipped or marked todo, or when no test ran at all. A skipped test hides a missing dependency
 * as well as a failure would, so it is never accepted.
 *
 * Usage: node dist/test/run.js [FILTER...]   (a file runs if its path contains any FILTER)
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Totals read from the TAP reporter's closing comments. */
interface Totals {
  tests: number;
  pass: number;
  fail: number;
  cancelled: number;
  skipped: number;
  todo: number;
}

const testRoot = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(testRoot, '..', '..');

function findTestFiles(directory: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) files.push(...findTestFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) files.push(path);
  }
  return files.sort();
}

function readTotals(tap: string): Totals {
  const totals: Totals = { tests: 0, pass: 0, fail: 0, cancelled: 0, skipped: 0, todo: 0 };
  // Only the top-level summary lines (no indentation) count; nested ones belong to subtests.
  for (const match of tap.matchAll(/^# (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)) {
    const key = match[1] as keyof Totals;
    totals[key] = Number(match[2]);
  }
  return totals;
}

async function runNodeTest(files: string[], tapFile: string): Promise<number> {
  const args = [
    '--test',
    '--test-concurrency=1',
    // A test that hangs (an event that never comes) fails after 10 minutes instead of holding
    // CI until its own limit; real tests finish in well under that.
    '--test-timeout=600000',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=tap',
    `--test-reporter-destination=${tapFile}`,
    ...files.map((file) => relative(repoRoot, file)),
  ];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: 'inherit' });
  // Forward Ctrl-C and termination so no test subprocess outlives the runner.
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const files = findTestFiles(testRoot).filter(
    (file) =>
      filters.length === 0 || filters.some((filter) => relative(testRoot, file).includes(filter)),
  );
  if (files.length === 0) {
    console.error(`no test files under ${relative(repoRoot, testRoot)} match ${filters.join(' ')}`);
    console.log('0 passed, 0 failed, 0 skipped');
    return 1;
  }

  const tapDirectory = mkdtempSync(join(tmpdir(), 'montage-test-'));
  const tapFile = join(tapDirectory, 'report.tap');
  try {
    const exitCode = await runNodeTest(files, tapFile);
    const totals = readTotals(existsSync(tapFile) ? readFileSync(tapFile, 'utf8') : '');
    const failed = totals.fail + totals.cancelled;
    const skipped = totals.skipped + totals.todo;
    console.log(`${totals.pass} passed, ${failed} failed, ${skipped} skipped`);
    if (totals.tests === 0) console.error('no test ran');
    if (skipped > 0) console.error('skipped and todo tests count as failures');
    const ok = exitCode === 0 && failed === 0 && skipped === 0 && totals.tests > 0;
    return ok ? 0 : 1;
  } finally {
    rmSync(tapDirectory, { recursive: true, force: true });
  }
}

process.exitCode = await main();
