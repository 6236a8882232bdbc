/**
 * The data folder holds secrets: the database (invite URLs with bearer tokens, stream keys) and
 * the token and edge secrets. Only their owner may read them: the folder is 0700 and the files
 * 0600, made so when created and tightened at every start for installations from before.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and its parents) if needed and makes it owner-only. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  chmodSync(dir, PRIVATE_DIR_MODE);
}

/**
 * Makes `file` owner-only, creating it empty if it does not exist.
 * SQLite creates a database's -wal and -shm files with the database file's mode, so a database
 * prepared this way keeps them private too; existing ones are tightened here as well.
 */
export function privateFile(file: string, companions: readonly string[] = []): void {
  // A missing folder is made owner-only; an existing one is left as it is (it may be shared).
  mkdirSync(dirname(file), { recursive: true, mode: PRIVATE_DIR_MODE });
  // 'a' creates the file without truncating one that exists; the mode applies to a new file.
  closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  for (const path of [file, ...companions]) {
    if (existsSync(path)) chmodSync(path, PRIVATE_FILE_MODE);
  }
}
