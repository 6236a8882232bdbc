/**
 * The archive's rows: one per program recording, from the moment its recorder starts until a
 * moderator or retention deletes it. Rows are mapped to typed records here and nowhere else.
 */
import type { AssemblyId, RecordingId } from '../domain/ids.js';
import type { SqliteDatabase } from './Database.js';

export interface Recording {
  id: RecordingId;
  assemblyId: AssemblyId;
  /** The assembly's name when it was recorded (the assembly may be renamed or deleted since). */
  assemblyName: string;
  /** The file's name inside the recordings folder (never a path). */
  file: string;
  /** `recording` while its recorder runs, `finished` once the file is closed and probed. */
  state: 'recording' | 'finished';
  startedAt: string;
  finishedAt: string | undefined;
  /** From ffprobe once finished; undefined while recording or when ffprobe could not tell. */
  durationMs: number | undefined;
  sizeBytes: number | undefined;
  /** Why it stopped by itself (the file is cut short there); undefined when it was stopped. */
  failure: string | undefined;
}

interface RecordingRow {
  id: string;
  assembly_id: string;
  assembly_name: string;
  file: string;
  state: string;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  size_bytes: number | null;
  failure: string | null;
}

function toRecording(row: RecordingRow): Recording {
  return {
    id: row.id as RecordingId,
    assemblyId: row.assembly_id as AssemblyId,
    assemblyName: row.assembly_name,
    file: row.file,
    state: row.state === 'recording' ? 'recording' : 'finished',
    startedAt: row.started_at,
    finishedAt: row.finished_at ?? undefined,
    durationMs: row.duration_ms ?? undefined,
    sizeBytes: row.size_bytes ?? undefined,
    failure: row.failure ?? undefined,
  };
}

export class RecordingStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  insert(recording: Recording): void {
    this.#db
      .prepare(
        `INSERT INTO recordings (id, assembly_id, assembly_name, file, state, started_at,
           finished_at, duration_ms, size_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        recording.id,
        recording.assemblyId,
        recording.assemblyName,
        recording.file,
        recording.state,
        recording.startedAt,
        recording.finishedAt ?? null,
        recording.durationMs ?? null,
        recording.sizeBytes ?? null,
      );
  }

  /**
   * Marks the recording of `file` finished with what was measured, and why it stopped by itself
   * if it did; false if it has no row.
   */
  finish(
    file: string,
    finishedAt: string,
    durationMs: number | undefined,
    sizeBytes: number | undefined,
    failure?: string,
  ): boolean {
    const result = this.#db
      .prepare(
        `UPDATE recordings SET state = 'finished', finished_at = ?, duration_ms = ?,
           size_bytes = ?, failure = ? WHERE file = ?`,
      )
      .run(finishedAt, durationMs ?? null, sizeBytes ?? null, failure ?? null, file);
    return result.changes > 0;
  }

  /** An assembly's recordings, newest first. */
  listFor(assemblyId: AssemblyId): Recording[] {
    const rows = this.#db
      .prepare('SELECT * FROM recordings WHERE assembly_id = ? ORDER BY started_at DESC, id')
      .all(assemblyId) as RecordingRow[];
    return rows.map(toRecording);
  }

  /** Every recording started before `isoTime`, oldest first. */
  startedBefore(isoTime: string): Recording[] {
    const rows = this.#db
      .prepare('SELECT * FROM recordings WHERE started_at < ? ORDER BY started_at, id')
      .all(isoTime) as RecordingRow[];
    return rows.map(toRecording);
  }

  /** Rows still `recording`: after a crash their recorder is gone, so they need finishing. */
  unfinished(): Recording[] {
    const rows = this.#db
      .prepare(`SELECT * FROM recordings WHERE state = 'recording' ORDER BY started_at, id`)
      .all() as RecordingRow[];
    return rows.map(toRecording);
  }

  find(id: RecordingId): Recording | undefined {
    const row = this.#db.prepare('SELECT * FROM recordings WHERE id = ?').get(id) as
      RecordingRow | undefined;
    return row === undefined ? undefined : toRecording(row);
  }

  delete(id: RecordingId): boolean {
    return this.#db.prepare('DELETE FROM recordings WHERE id = ?').run(id).changes > 0;
  }
}
