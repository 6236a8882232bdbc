/**
 * The edge's retention rule: nginx-rtmp never deletes fragments here (`hls_cleanup off`, so
 * the history of a live assembly stays seekable), so the playlist agents delete the folders of
 * streams that ended long ago: those whose playlists have not changed for the retention time
 * (48 h by default). A live stream's folder is never deleted: its agent is running (its pid is
 * in the folder) and nginx-rtmp rewrites its playlist every fragment.
 */
import { lstat, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../log.js';

/** The files whose age decides: a stream's playlists, or else its folder. */
const PLAYLISTS = ['index.m3u8', 'live.m3u8', 'history.m3u8'];

export interface SweepOptions {
  /** nginx-rtmp's `hls_path`. */
  hlsDir: string;
  /** A stream folder whose newest playlist is older than this is deleted. */
  maxAgeMs: number;
  nowMs: number;
  logger: Logger;
}

/** Whether the pid in a stream's `.agent.pid` belongs to a running process. */
async function agentRunning(folder: string): Promise<boolean> {
  const text = await readFile(path.join(folder, '.agent.pid'), 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The newest modification time among a folder's playlists, or the folder's own. */
async function lastChangeMs(folder: string): Promise<number> {
  let newest = -Infinity;
  for (const name of PLAYLISTS) {
    const info = await stat(path.join(folder, name)).catch(() => undefined);
    if (info !== undefined) newest = Math.max(newest, info.mtimeMs);
  }
  if (newest === -Infinity) newest = (await stat(folder)).mtimeMs;
  return newest;
}

/**
 * Deletes every stream folder under `hlsDir` whose playlists have not changed for `maxAgeMs`
 * and whose agent is not running, logging each deletion; returns the deleted streams. Every
 * folder there is nginx-rtmp's, one per stream it received, including any whose name the agent
 * refused to serve; files, symlinks and hidden names are left alone.
 */
export async function sweepStaleStreams(options: SweepOptions): Promise<string[]> {
  const deleted: string[] = [];
  let names: string[];
  try {
    names = await readdir(options.hlsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return deleted;
    throw error;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const folder = path.join(options.hlsDir, name);
    try {
      if (!(await lstat(folder)).isDirectory()) continue;
      const changed = await lastChangeMs(folder);
      if (options.nowMs - changed < options.maxAgeMs) continue;
      if (await agentRunning(folder)) continue;
      const files = await readdir(folder);
      let bytes = 0;
      for (const file of files) {
        bytes += (await lstat(path.join(folder, file)).catch(() => undefined))?.size ?? 0;
      }
      await rm(folder, { recursive: true, force: true });
      deleted.push(name);
      options.logger.info('retention: deleted the HLS files of an ended stream', {
        stream: name,
        files: files.length,
        bytes,
        unchangedSince: new Date(changed).toISOString(),
        retentionHours: Math.round((options.maxAgeMs / 3_600_000) * 100) / 100,
      });
    } catch (error) {
      // Another agent may be deleting the same folder at the same moment.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
  }
  return deleted;
}
