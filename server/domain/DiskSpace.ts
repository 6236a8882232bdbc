/**
 * Free space of the folders the app's media is written to: the recordings folder and the local
 * edge's folder (its HLS fragments). Checked every few seconds with statfs, off any request
 * path and off the event loop (in libuv's thread pool: a stuck network mount holds one check,
 * never the app, and the next check joins it rather than piling up behind it). A folder with
 * less free space than `warnFreeMb` is a warning the crew's panels show
 * (`disk:warnings`, and in `welcome` for a panel opened later) until its space is back. Each
 * change is logged once (not at every check), and /metrics has every folder's free bytes and
 * whether it is low.
 *
 * A warning clears only once the folder has `warnFreeMb` plus a margin free again, so a disk
 * hovering at the threshold does not flip the panel and the log at every check.
 *
 * `assertRecordingSpace()` is the hard minimum: a recording is not started while the recordings
 * folder has less than `minFreeMb` free (it would fill the disk within moments). It asks statfs
 * at that moment rather than trusting the last check.
 */
import { EventEmitter } from 'node:events';
import { statfsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import type { MetricsRegistry } from '../metrics/MetricsRegistry.js';
import { DiskFullError } from './errors.js';

const MB = 1024 * 1024;

/** What a watched folder holds, as the panel names it. */
export type DiskFolderKind = 'recordings' | 'hls';

export interface WatchedFolder {
  kind: DiskFolderKind;
  /** Absolute; it may not exist yet (the recordings folder is made by the first recording). */
  path: string;
}

/** A folder running out of space, as the crew's panels get it. */
export interface DiskWarning {
  kind: DiskFolderKind;
  path: string;
  /** Free space left, in MiB (rounded down). */
  freeMb: number;
  /** MONTAGE_DISK_WARN_FREE_MB. */
  thresholdMb: number;
}

export interface DiskSpaceOptions {
  folders: readonly WatchedFolder[];
  /** Warn below this much free space, in MiB; 0 never warns. */
  warnFreeMb: number;
  /** Refuse to start a recording below this much free space, in MiB; 0 never refuses. */
  minFreeMb: number;
  intervalMs: number;
  metrics: MetricsRegistry;
  logger: Logger;
}

interface DiskSpaceEvents {
  /** The list of warnings changed (a folder ran low, its space came back, or its count changed). */
  changed: [warnings: DiskWarning[]];
}

/**
 * The folder to ask next when statfs failed on `path`: its parent when `path` does not exist
 * (yet), for statfs needs an existing path; otherwise the error is thrown.
 */
function parentOrThrow(path: string, error: unknown): string {
  const parent = dirname(path);
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === path) throw error;
  return parent;
}

/** Bytes an unprivileged writer may still write on the file system holding `path`. */
export function freeBytes(path: string): number {
  for (let current = path; ;) {
    try {
      const stats = statfsSync(current);
      return stats.bavail * stats.bsize;
    } catch (error) {
      current = parentOrThrow(current, error);
    }
  }
}

/** `freeBytes` off the event loop. */
async function freeBytesAsync(path: string): Promise<number> {
  for (let current = path; ;) {
    try {
      const stats = await statfs(current);
      return stats.bavail * stats.bsize;
    } catch (error) {
      current = parentOrThrow(current, error);
    }
  }
}

export class DiskSpace extends EventEmitter<DiskSpaceEvents> {
  readonly #options: DiskSpaceOptions;
  readonly #log: Logger;
  /** The current warning of each low folder, by path. */
  readonly #low = new Map<string, DiskWarning>();
  /** Folders whose last check failed, so the failure is logged once. */
  readonly #failing = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  /** The check running now, if any: a check asked for meanwhile joins it. */
  #checking: Promise<void> | undefined;

  constructor(options: DiskSpaceOptions) {
    super();
    this.#options = options;
    this.#log = options.logger;
  }

  /** Checks now, then every `intervalMs`. */
  start(): void {
    void this.check();
    this.#timer = setInterval(() => void this.check(), this.#options.intervalMs);
    // The schedule alone must not keep the process alive.
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The folders low on space now, recordings first. */
  get warnings(): DiskWarning[] {
    return [...this.#low.values()];
  }

  /**
   * Checks every folder once; emits `changed` when the warnings changed. Never rejects. While a
   * check runs (a slow disk), another is not started: the caller gets the running one.
   */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<void> {
    const { folders, warnFreeMb, metrics } = this.#options;
    let changed = false;
    for (const folder of folders) {
      let free: number;
      try {
        free = await freeBytesAsync(folder.path);
      } catch (error) {
        if (!this.#failing.has(folder.path)) {
          this.#failing.add(folder.path);
          this.#log.warn('free disk space cannot be checked', {
            folder: folder.kind,
            path: folder.path,
            error: String(error),
          });
        }
        continue;
      }
      this.#failing.delete(folder.path);
      const labels = { folder: folder.kind, path: folder.path };
      metrics.diskFreeBytes.set(free, labels);
      const freeMb = Math.floor(free / MB);
      const previous = this.#low.get(folder.path);
      // Back to normal only with a margin above the threshold (5 %, at least 1 MiB).
      const clearAtMb = warnFreeMb + Math.max(1, Math.ceil(warnFreeMb * 0.05));
      const low =
        warnFreeMb > 0 && (previous === undefined ? free < warnFreeMb * MB : freeMb < clearAtMb);
      metrics.diskLow.set(low ? 1 : 0, labels);
      if (low) {
        const warning: DiskWarning = { ...folder, freeMb, thresholdMb: warnFreeMb };
        if (previous === undefined) {
          this.#log.warn('disk space low', { folder: folder.kind, path: folder.path, freeMb });
        }
        if (previous?.freeMb !== freeMb) changed = true;
        this.#low.set(folder.path, warning);
      } else if (previous !== undefined) {
        this.#low.delete(folder.path);
        this.#log.info('disk space back', { folder: folder.kind, path: folder.path, freeMb });
        changed = true;
      }
    }
    if (changed) this.emit('changed', this.warnings);
  }

  /** Throws DiskFullError when the recordings folder has less than the minimum free. */
  assertRecordingSpace(): void {
    const { folders, minFreeMb } = this.#options;
    if (minFreeMb === 0) return;
    for (const folder of folders) {
      if (folder.kind !== 'recordings') continue;
      let free: number;
      try {
        free = freeBytes(folder.path);
      } catch {
        // A folder that cannot be checked is the recorder's to report (it says why).
        continue;
      }
      if (free < minFreeMb * MB) {
        throw new DiskFullError(folder.path, Math.floor(free / MB), minFreeMb);
      }
    }
  }
}
