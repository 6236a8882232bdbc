/**
 * The archive: every program recording, listed per assembly with its date, duration and size,
 * kept until a moderator deletes it or retention (`MONTAGE_RECORDING_RETENTION_DAYS`) does.
 *
 * The media layer reports a recorder's start and its finish (after `stopAndWait`, when the file
 * is closed); the finish is probed with ffprobe for the duration and stat'ed for the size. Rows
 * still marked `recording` when the server starts belong to a recorder that died with the last
 * run: they are probed then, so whatever was written is listed too.
 *
 * Retention runs when the archive starts and then every `sweepIntervalMs` (an hour): a recording
 * started more than the retention period ago loses its file and its row, each deletion logged
 * and written to the audit log. A recording still being recorded is never deleted.
 */
import { execFile } from 'node:child_process';
import { rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log.js';
import type { AuditLog } from '../store/AuditLog.js';
import type { Recording, RecordingStore } from '../store/RecordingStore.js';
import type { Actor } from './Assemblies.js';
import { RecordingInProgressError, RecordingNotFoundError } from './errors.js';
import { newRecordingId, type AssemblyId, type RecordingId } from './ids.js';

const run = promisify(execFile);

/** A broken or huge file must not hold the archive up for long. */
const PROBE_TIMEOUT_MS = 60_000;
const DAY_MS = 24 * 3600 * 1000;

/** What the media layer tells the archive (server/media/AssemblyMedia.ts calls it). */
export interface RecordingSink {
  /** A recorder started writing `file` (an absolute path in the recordings folder). */
  recordingStarted(assemblyId: AssemblyId, file: string): void;
  /**
   * The recorder of `file` stopped and its file is closed, or it failed (`failure`: the
   * recorder's Error event) and was dropped: then the file is cut short where writing failed.
   */
  recordingFinished(file: string, failure?: RecordingFailure): void;
}

/** A recorder's Error event (Kurento's type and description). */
export interface RecordingFailure {
  type: string;
  description: string;
}

/** A recording as REST and the panel see it. */
export interface RecordingView {
  id: RecordingId;
  assemblyId: AssemblyId;
  assemblyName: string;
  state: 'recording' | 'finished';
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  sizeBytes: number | null;
  /**
   * Why the recording stopped by itself (e.g. "the recordings disk was full"): the file plays up
   * to that moment. Null when someone stopped it.
   */
  failure: string | null;
  /** When retention deletes it; null when recordings are kept for ever. */
  deletesAt: string | null;
}

export interface ArchiveOptions {
  store: RecordingStore;
  audit: AuditLog;
  logger: Logger;
  /** The recordings folder (MONTAGE_RECORDINGS_DIR). */
  dir: string;
  /** 0 keeps recordings for ever. */
  retentionDays: number;
  /** The assembly's current name, recorded with each recording. */
  assemblyName: (id: AssemblyId) => string;
  /** How often retention runs; an hour by default. */
  sweepIntervalMs?: number;
}

export class Archive implements RecordingSink {
  readonly #options: ArchiveOptions;
  readonly #store: RecordingStore;
  readonly #log: Logger;
  /** Probes run one after another: a two-core machine also runs the live assemblies. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Every probe not yet written, so tests and shutdown can wait for them. */
  readonly #pending = new Set<Promise<void>>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ArchiveOptions) {
    this.#options = options;
    this.#store = options.store;
    this.#log = options.logger;
  }

  get retentionDays(): number {
    return this.#options.retentionDays;
  }

  /** Finishes rows left `recording` by the last run, then runs retention now and on schedule. */
  start(): void {
    for (const recording of this.#store.unfinished()) this.#probe(recording.file);
    this.sweep();
    this.#timer = setInterval(() => this.sweep(), this.#options.sweepIntervalMs ?? 3600_000);
    // The schedule alone must not keep the process alive.
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.settled();
  }

  /** Resolves once every probe started so far is written. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  recordingStarted(assemblyId: AssemblyId, file: string): void {
    let assemblyName: string;
    try {
      assemblyName = this.#options.assemblyName(assemblyId);
    } catch {
      assemblyName = assemblyId;
    }
    const recording: Recording = {
      id: newRecordingId(),
      assemblyId,
      assemblyName,
      file: basename(file),
      state: 'recording',
      startedAt: new Date().toISOString(),
      finishedAt: undefined,
      durationMs: undefined,
      sizeBytes: undefined,
      failure: undefined,
    };
    this.#store.insert(recording);
    this.#log.info('recording started', { assembly: assemblyId, recording: recording.id, file });
  }

  recordingFinished(file: string, failure?: RecordingFailure): void {
    this.#probe(basename(file), failure === undefined ? undefined : failureReason(failure));
  }

  list(assemblyId: AssemblyId): RecordingView[] {
    return this.#store.listFor(assemblyId).map((recording) => this.#view(recording));
  }

  /** The recording, if it belongs to `assemblyId` (RecordingNotFoundError otherwise). */
  get(assemblyId: AssemblyId, id: RecordingId): Recording {
    const recording = this.#store.find(id);
    if (recording?.assemblyId !== assemblyId) throw new RecordingNotFoundError(id);
    return recording;
  }

  view(recording: Recording): RecordingView {
    return this.#view(recording);
  }

  /** The absolute path of a recording's file. */
  path(recording: Recording): string {
    return join(this.#options.dir, basename(recording.file));
  }

  /** A moderator deletes a finished recording: its file and its row, written to the audit log. */
  delete(actor: Actor, assemblyId: AssemblyId, id: RecordingId): void {
    const recording = this.get(assemblyId, id);
    if (recording.state === 'recording') throw new RecordingInProgressError(id);
    this.#remove(recording);
    this.#options.audit.record(actor, 'recording.delete', assemblyId, {
      recording: id,
      file: recording.file,
    });
    this.#log.info('recording deleted', { actor, assembly: assemblyId, recording: id });
  }

  /**
   * Retention: deletes every finished recording started more than the retention period before
   * `nowMs`; returns the deleted ones. Does nothing when recordings are kept for ever.
   */
  sweep(nowMs: number = Date.now()): Recording[] {
    const days = this.#options.retentionDays;
    if (days === 0) return [];
    const cutoff = new Date(nowMs - days * DAY_MS).toISOString();
    const deleted: Recording[] = [];
    for (const recording of this.#store.startedBefore(cutoff)) {
      if (recording.state === 'recording') continue;
      try {
        this.#remove(recording);
      } catch (error) {
        this.#log.error('retention could not delete a recording', {
          recording: recording.id,
          file: recording.file,
          error: String(error),
        });
        continue;
      }
      deleted.push(recording);
      this.#options.audit.record('retention', 'recording.expire', recording.assemblyId, {
        recording: recording.id,
        file: recording.file,
        startedAt: recording.startedAt,
        retentionDays: days,
      });
      this.#log.info('retention deleted a recording', {
        assembly: recording.assemblyId,
        recording: recording.id,
        file: recording.file,
        startedAt: recording.startedAt,
        retentionDays: days,
      });
    }
    return deleted;
  }

  #remove(recording: Recording): void {
    // The file first: a row without a file would list a recording that cannot be played, while
    // a failed unlink leaves both for the next sweep.
    rmSync(this.path(recording), { force: true });
    this.#store.delete(recording.id);
  }

  #view(recording: Recording): RecordingView {
    const days = this.#options.retentionDays;
    return {
      id: recording.id,
      assemblyId: recording.assemblyId,
      assemblyName: recording.assemblyName,
      state: recording.state,
      startedAt: recording.startedAt,
      finishedAt: recording.finishedAt ?? null,
      durationMs: recording.durationMs ?? null,
      sizeBytes: recording.sizeBytes ?? null,
      failure: recording.failure ?? null,
      deletesAt:
        days === 0 ? null : new Date(Date.parse(recording.startedAt) + days * DAY_MS).toISOString(),
    };
  }

  #probe(file: string, failure?: string): void {
    const path = join(this.#options.dir, file);
    const done = this.#queue
      .then(async () => {
        const durationMs = await probeDurationMs(path).catch((error: unknown) => {
          this.#log.warn('ffprobe could not read a recording', { file, error: String(error) });
          return undefined;
        });
        let sizeBytes: number | undefined;
        try {
          sizeBytes = statSync(path).size;
        } catch {
          sizeBytes = undefined;
        }
        this.#store.finish(file, new Date().toISOString(), durationMs, sizeBytes, failure);
        this.#log.info('recording finished', { file, durationMs, sizeBytes, failure });
      })
      .catch((error: unknown) => {
        this.#log.error('finishing a recording failed', { file, error: String(error) });
      });
    this.#queue = done;
    this.#pending.add(done);
    void done.finally(() => this.#pending.delete(done));
  }
}

/** A recorder's failure as the archive lists it, in words a moderator understands. */
function failureReason(failure: RecordingFailure): string {
  return failure.type === 'RESOURCE_ERROR_NO_SPACE_LEFT'
    ? 'the recordings disk was full'
    : failure.description;
}

/**
 * A recording's duration in ms. The container's duration when it has one; a WebM written live
 * may have none, so then the last packet's time (ffprobe reads packets without decoding them).
 */
export async function probeDurationMs(file: string): Promise<number | undefined> {
  const format = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file],
    { timeout: PROBE_TIMEOUT_MS },
  );
  const seconds = Number.parseFloat(format.stdout.trim());
  if (Number.isFinite(seconds) && seconds > 0) return Math.round(seconds * 1000);
  const packets = await run(
    'ffprobe',
    ['-v', 'error', '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file],
    { timeout: PROBE_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 },
  );
  let last = Number.NaN;
  let first = Number.NaN;
  for (const line of packets.stdout.split('\n')) {
    const time = Number.parseFloat(line);
    if (!Number.isFinite(time)) continue;
    if (!Number.isFinite(first) || time < first) first = time;
    if (!Number.isFinite(last) || time > last) last = time;
  }
  return Number.isFinite(last) && last > first ? Math.round((last - first) * 1000) : undefined;
}
