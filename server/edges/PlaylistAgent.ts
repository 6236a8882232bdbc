import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzip as gzipCallback, constants as zlibConstants } from 'node:zlib';
import type { Logger } from '../log.js';
import {
  parseHistoryPlaylist,
  parseNginxPlaylist,
  STREAM_NAME,
  type NginxFragment,
} from './hlsPlaylists.js';
import { sweepStaleStreams } from './retention.js';
import { StreamHistory } from './StreamHistory.js';

const gzip = promisify(gzipCallback);

/** The agent's files in a stream's folder, next to nginx-rtmp's index.m3u8 and fragments. */
export const LIVE_PLAYLIST = 'live.m3u8';
export const HISTORY_PLAYLIST = 'history.m3u8';
export const NGINX_PLAYLIST = 'index.m3u8';
/** Holds the pid of the stream's running agent: retention never deletes a live stream. */
export const AGENT_PID_FILE = '.agent.pid';

/** How much of the end of index.m3u8 is read when the last known fragment is in it. */
const TAIL_BYTES = 64 * 1024;

export interface PlaylistAgentOptions {
  /** nginx-rtmp's `hls_path`: one folder per stream below it. */
  hlsDir: string;
  /** The stream (RTMP name, HLS folder); [A-Za-z0-9_-]{1,64}. */
  stream: string;
  /** Fragments in live.m3u8. */
  liveWindow: number;
  /** Stream folders whose playlist has not changed for this long are deleted. */
  retentionMs: number;
  logger: Logger;
  /**
   * A safety net behind fs.watch: how often index.m3u8 is checked for a change that raised no
   * event (default 5 s). Changes are normally handled from inotify within milliseconds.
   */
  checkIntervalMs?: number;
  /** How often other streams' folders are checked for retention (default hourly). */
  sweepIntervalMs?: number;
}

/** Events of a `PlaylistAgent`, as a type map so a wrong listener fails to compile. */
export interface PlaylistAgentEvents {
  /** live.m3u8 and history.m3u8 were rewritten with `appended` new fragments. */
  written: [{ appended: number; fragments: number }];
  /** A sync failed (logged too); the next change of index.m3u8 tries again. */
  error: [Error];
}

/**
 * The playlist agent of one live stream on one edge: it follows nginx-rtmp's `index.m3u8`
 * (inotify through fs.watch) and after each rewrite appends the new fragments to the stream's
 * history and rewrites `live.m3u8` (the last `liveWindow` fragments) and `history.m3u8` (every
 * fragment), each with a gzipped twin for nginx's gzip_static, by writing a temporary file and
 * renaming it so a viewer never reads half a playlist. It only lists fragments nginx-rtmp has
 * listed, and lists each once.
 *
 * nginx-rtmp starts one per stream (exec_push, see nginx/edge.conf.template and edgeAgent.ts);
 * it also applies the retention rule to the other streams' folders.
 */
export class PlaylistAgent extends EventEmitter<PlaylistAgentEvents> {
  readonly dir: string;
  private readonly options: PlaylistAgentOptions;
  private readonly logger: Logger;
  private history = new StreamHistory();
  private watcher: FSWatcher | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** The running sync, and whether another change arrived while it ran. */
  private syncing: Promise<void> | undefined;
  private dirty = false;
  /** index.m3u8 as of the last sync (inode and mtime), for the safety-net check. */
  private seenIndex = '';
  private written = false;
  private stopped = false;
  /** A newer agent took the stream over (see `ownsStream`): this one writes nothing more. */
  private yielded = false;

  constructor(options: PlaylistAgentOptions) {
    super();
    if (!STREAM_NAME.test(options.stream)) {
      throw new TypeError(`bad stream name ${JSON.stringify(options.stream)}`);
    }
    if (!Number.isInteger(options.liveWindow) || options.liveWindow < 3) {
      throw new TypeError('liveWindow must be an integer of at least 3 fragments');
    }
    this.options = options;
    this.logger = options.logger;
    this.dir = path.join(options.hlsDir, options.stream);
  }

  /** Recovers the history, starts following index.m3u8 and writes the playlists once. */
  async start(): Promise<void> {
    // nginx-rtmp creates the folder with the stream's first fragment; watching needs it now.
    await mkdir(this.dir, { recursive: true });
    await this.removeTemporaries();
    await writeFile(path.join(this.dir, AGENT_PID_FILE), `${process.pid}\n`);
    this.history = await this.recover();
    this.watcher = watch(this.dir, (_event, file) => {
      if (file === NGINX_PLAYLIST) this.sync();
    });
    this.watcher.on('error', (error) => {
      this.logger.error('watching the stream folder failed', { error });
    });
    this.checkTimer = setInterval(
      () => void this.checkIndex(),
      this.options.checkIntervalMs ?? 5000,
    );
    this.checkTimer.unref();
    this.sync();
    // Other streams' folders: once now (after this stream's first playlists), then regularly.
    const sweepEvery =
      this.options.sweepIntervalMs ?? Math.min(3_600_000, this.options.retentionMs / 4);
    this.sweepTimer = setInterval(() => void this.sweep(), sweepEvery);
    this.sweepTimer.unref();
    await this.idle();
    await this.sweep();
  }

  /** Resolves once no sync is running or queued. */
  async idle(): Promise<void> {
    while (this.syncing !== undefined) await this.syncing;
  }

  /**
   * Stops following the stream. With `final`, index.m3u8 is read once more first: nginx-rtmp
   * writes its last playlist (closing the last fragment) before it signals the agent; then
   * history.m3u8 is closed with EXT-X-ENDLIST, so the ended stream plays as video on demand
   * until retention deletes it. A new publish of the same stream (a restarted origin or bridge)
   * starts a new agent, which continues the history and writes it open again.
   */
  async stop(final: boolean): Promise<void> {
    if (this.stopped) return;
    if (final) {
      this.sync();
      await this.idle();
      if (!this.yielded && this.history.length > 0 && (await this.ownsStream())) {
        await this.writePlaylist(
          HISTORY_PLAYLIST,
          this.history.historyPlaylist({ ended: true }),
          1,
        );
        this.logger.info('history closed (EXT-X-ENDLIST)', { fragments: this.history.length });
      }
    }
    this.stopped = true;
    this.watcher?.close();
    clearInterval(this.checkTimer);
    clearInterval(this.sweepTimer);
    const pidFile = path.join(this.dir, AGENT_PID_FILE);
    const owner = await readFile(pidFile, 'utf8').catch(() => '');
    if (owner.trim() === String(process.pid)) await rm(pidFile, { force: true });
  }

  /** Queues a sync; a change during a sync runs one more afterwards. */
  sync(): void {
    if (this.stopped || this.yielded) return;
    if (this.syncing !== undefined) {
      this.dirty = true;
      return;
    }
    this.syncing = (async () => {
      do {
        this.dirty = false;
        try {
          await this.syncOnce();
        } catch (error) {
          const failure = error instanceof Error ? error : new Error(String(error));
          this.logger.error('playlist sync failed', { error: failure });
          this.emit('error', failure);
        }
      } while (this.dirty && !this.stopped);
    })().finally(() => {
      this.syncing = undefined;
    });
  }

  private async syncOnce(): Promise<void> {
    if (!(await this.ownsStream())) {
      // A newer agent for the same stream started (a new publish while this one was ending):
      // it writes from now on; an older view of the history must not overwrite its playlists.
      if (!this.yielded)
        this.logger.warn('another agent owns the stream now; this one stops writing');
      this.yielded = true;
      return;
    }
    const listed = await this.readIndex();
    if (listed === undefined) return;
    const appended = this.history.append(listed, Date.now());
    if (appended === 0 && this.written) return;
    if (this.history.length === 0) return;
    // Viewers reload live.m3u8: it goes first.
    await this.writePlaylist(LIVE_PLAYLIST, this.history.livePlaylist(this.options.liveWindow), 9);
    // history.m3u8 grows to megabytes in a long assembly: the fastest compression level costs
    // a third of the default's time for nearly the same size.
    await this.writePlaylist(HISTORY_PLAYLIST, this.history.historyPlaylist(), 1);
    this.written = true;
    this.emit('written', { appended, fragments: this.history.length });
  }

  /**
   * nginx-rtmp's fragments, or undefined before its playlist exists. The playlist is replaced
   * by rename, so one open file is one consistent version. In a long assembly it is large and
   * only its end is new: the end is read alone when it still contains the last fragment the
   * history has.
   */
  private async readIndex(): Promise<NginxFragment[] | undefined> {
    let handle;
    try {
      handle = await open(path.join(this.dir, NGINX_PLAYLIST), 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const info = await handle.stat();
      this.seenIndex = `${info.ino}:${info.mtimeMs}`;
      const last = this.history.last;
      if (last !== undefined && info.size > TAIL_BYTES) {
        const buffer = Buffer.alloc(TAIL_BYTES);
        const { bytesRead } = await handle.read(buffer, 0, TAIL_BYTES, info.size - TAIL_BYTES);
        const tail = buffer.subarray(0, bytesRead).toString('utf8');
        // The first line may be cut in half: start after it.
        const listed = parseNginxPlaylist(tail.slice(tail.indexOf('\n') + 1));
        if (listed.some((fragment) => fragment.name === last.name)) return listed;
      }
      const whole = Buffer.alloc(info.size);
      const { bytesRead } = await handle.read(whole, 0, info.size, 0);
      return parseNginxPlaylist(whole.subarray(0, bytesRead).toString('utf8'));
    } finally {
      await handle.close();
    }
  }

  /** Writes `name` and `name.gz` each through a temporary file and a rename. */
  private async writePlaylist(name: string, text: string, level: number): Promise<void> {
    const file = path.join(this.dir, name);
    const temporary = path.join(this.dir, `.${name}.${process.pid}.tmp`);
    const compressed = await gzip(text, { level, strategy: zlibConstants.Z_DEFAULT_STRATEGY });
    await writeFile(temporary, text);
    await rename(temporary, file);
    await writeFile(temporary, compressed);
    await rename(temporary, `${file}.gz`);
  }

  /** The history as the last agent left it in history.m3u8 (empty when there is none). */
  private async recover(): Promise<StreamHistory> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, HISTORY_PLAYLIST), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new StreamHistory();
      throw error;
    }
    const fragments = parseHistoryPlaylist(text);
    if (fragments === undefined) {
      this.logger.warn("history.m3u8 is not the agent's: rebuilding it from index.m3u8");
      return new StreamHistory();
    }
    this.logger.info('history recovered', { fragments: fragments.length });
    return new StreamHistory(fragments);
  }

  /** Whether `.agent.pid` still names this process (or no running one). */
  private async ownsStream(): Promise<boolean> {
    const text = await readFile(path.join(this.dir, AGENT_PID_FILE), 'utf8').catch(() => '');
    const pid = Number.parseInt(text.trim(), 10);
    if (!Number.isInteger(pid) || pid === process.pid) return true;
    try {
      process.kill(pid, 0);
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code !== 'EPERM';
    }
  }

  /** A temporary file left by an agent killed mid-write is never served; remove it. */
  private async removeTemporaries(): Promise<void> {
    for (const name of await readdir(this.dir)) {
      if (/^\..+\.tmp$/.test(name)) await rm(path.join(this.dir, name), { force: true });
    }
  }

  /** The safety net: a change of index.m3u8 that fs.watch did not report. */
  private async checkIndex(): Promise<void> {
    try {
      const info = await stat(path.join(this.dir, NGINX_PLAYLIST));
      if (`${info.ino}:${info.mtimeMs}` !== this.seenIndex) this.sync();
    } catch {
      // No playlist yet: nginx-rtmp writes it when the first fragment closes.
    }
  }

  private async sweep(): Promise<void> {
    if (this.stopped) return;
    try {
      await sweepStaleStreams({
        hlsDir: this.options.hlsDir,
        maxAgeMs: this.options.retentionMs,
        nowMs: Date.now(),
        logger: this.logger,
      });
    } catch (error) {
      this.logger.error('retention sweep failed', { error });
    }
  }
}
