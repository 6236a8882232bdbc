/**
 * The data folder holds the database (invite URLs with their bearer tokens) and the secrets:
 * owner-only when created, and tightened at start for a folder left readable by an older
 * version (issue 12). The real app is started twice on one data folder.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setup, tempDataDir } from './appHelpers.js';

const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8);

test('the data folder is 0700 and the database, its WAL and SHM and the secret files 0600, from the first start and again after they were left readable', async () => {
  const dataDir = tempDataDir();
  const first = await setup(dataDir);
  const database = first.app.config.databasePath;
  const files = [database, `${database}-wal`, `${database}-shm`, path.join(dataDir, 'jwt-secret')];
  const check = (when: string): void => {
    assert.equal(mode(dataDir), '700', `${when}: ${dataDir}`);
    for (const file of files) {
      assert.ok(existsSync(file), `${when}: ${file} exists`);
      assert.equal(mode(file), '600', `${when}: ${file}`);
    }
  };
  check('first start');
  await first.teardown({ keepData: true });

  // As an older version left them: readable by everyone.
  chmodSync(dataDir, 0o755);
  for (const file of files) if (existsSync(file)) chmodSync(file, 0o644);
  const again = await setup(dataDir);
  try {
    check('after a start on readable files');
  } finally {
    await again.teardown();
  }
});
