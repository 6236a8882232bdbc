/**
 * The token secret: MONTAGE_JWT_SECRET when set; otherwise a random one generated on first start
 * into `<dataDir>/jwt-secret` (mode 0600), so that invite links survive restarts without anyone
 * committing a secret. The data dir is ignored by git.
 */
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateSecret } from './Tokens.js';
import { privateDir, PRIVATE_FILE_MODE } from '../store/privateFiles.js';

export const SECRET_FILE_NAME = 'jwt-secret';
/** The origin → edge push secret (MONTAGE_EDGE_SECRET), kept the same way. */
export const EDGE_SECRET_FILE_NAME = 'edge-secret';

export function loadOrCreateSecret(
  configured: string | undefined,
  dataDir: string,
  fileName: string = SECRET_FILE_NAME,
): string {
  if (configured !== undefined) return configured;
  const file = join(dataDir, fileName);
  try {
    const existing = readFileSync(file, 'utf8').trim();
    // Files from before the data folder was kept private are tightened at start.
    privateDir(dataDir);
    chmodSync(file, PRIVATE_FILE_MODE);
    if (existing.length >= 32) return existing;
    throw new Error(`${file} holds fewer than 32 characters; delete it to generate a new secret`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  privateDir(dataDir);
  const secret = generateSecret();
  // 'wx' fails if another process (the token CLI) created the file meanwhile; read theirs then.
  try {
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readFileSync(file, 'utf8').trim();
  }
}
