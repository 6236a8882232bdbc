/**
 * A small tmpfs that a test mounts over a folder of its own, to fill a disk for real (a
 * recording that runs out of space) without touching the machine's disks. Tests run as root;
 * anything else fails with the reason, never skips.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TinyDisk {
  /** The mounted folder. */
  dir: string;
  /** Unmounts and removes the folder; safe to call twice. */
  remove(): Promise<void>;
}

/** Mounts a tmpfs of `size` (mount(8)'s syntax, e.g. "256k") on a new folder. */
export async function mountTinyDisk(size: string): Promise<TinyDisk> {
  const dir = await mkdtemp(path.join(tmpdir(), 'montage-tinydisk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0777`, 'montage-test', dir]);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    const stderr = (error as { stderr?: string }).stderr ?? String(error);
    throw new Error(`cannot mount a ${size} tmpfs for the test (tests run as root): ${stderr}`);
  }
  let removed: Promise<void> | undefined;
  return {
    dir,
    remove: () => {
      removed ??= (async () => {
        await run('umount', ['-l', dir]).catch((error: unknown) => {
          console.error(`umount ${dir} failed`, error);
        });
        await rm(dir, { recursive: true, force: true });
      })();
      return removed;
    },
  };
}
