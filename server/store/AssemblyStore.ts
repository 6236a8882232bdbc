/**
 * Persistent assemblies: what a moderator configured (name, layout, recording, DVR length) and
 * the secret stream key the RTMP origin checks. Rows are mapped to typed records here and
 * nowhere else.
 */
import { randomBytes } from 'node:crypto';
import { AssemblyNotFoundError } from '../domain/errors.js';
import { newAssemblyId, type AssemblyId } from '../domain/ids.js';
import type BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase } from './Database.js';

export const LAYOUTS = ['grid', 'spotlight', 'pip'] as const;
export type Layout = (typeof LAYOUTS)[number];

/**
 * Where an assembly stands: backstage (cameras join and the crew rehearses; nothing reaches the
 * audience), live (the program goes out and is recorded), ended (for good).
 */
export const PHASES = ['backstage', 'live', 'ended'] as const;
export type Phase = (typeof PHASES)[number];

export interface Assembly {
  id: AssemblyId;
  name: string;
  layout: Layout;
  /** Most camera tiles shown in the composite. */
  maxTiles: number;
  recording: boolean;
  /** How far back viewers can seek, in minutes. */
  dvrMinutes: number;
  /** Secret: the RTMP origin accepts a publish of this assembly only with this key. */
  streamKey: string;
  phase: Phase;
  /** When it went live; undefined while backstage. */
  wentLiveAt: string | undefined;
  endedAt: string | undefined;
  /** Anyone with the assembly's id may watch, without a viewer token (an operator's choice). */
  publicWatch: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface AssemblySettings {
  name: string;
  layout: Layout;
  maxTiles: number;
  recording: boolean;
  dvrMinutes: number;
}

interface AssemblyRow {
  id: string;
  name: string;
  layout: string;
  max_tiles: number;
  recording: number;
  dvr_minutes: number;
  stream_key: string;
  phase: string;
  went_live_at: string | null;
  ended_at: string | null;
  public_watch: number;
  created_at: string;
  updated_at: string;
}

function toAssembly(row: AssemblyRow): Assembly {
  return {
    id: row.id as AssemblyId,
    name: row.name,
    layout: row.layout as Layout,
    maxTiles: row.max_tiles,
    recording: row.recording !== 0,
    dvrMinutes: row.dvr_minutes,
    streamKey: row.stream_key,
    phase: row.phase as Phase,
    wentLiveAt: row.went_live_at ?? undefined,
    endedAt: row.ended_at ?? undefined,
    publicWatch: row.public_watch !== 0,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class AssemblyStore {
  readonly #db: SqliteDatabase;
  /**
   * Prepared once: every page, socket handshake and watch API call reads its assembly, and
   * preparing the statement each time was a tenth of such a request's CPU.
   */
  readonly #findById: BetterSqlite3.Statement<[string], AssemblyRow>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#findById = db.prepare<[string], AssemblyRow>('SELECT * FROM assemblies WHERE id = ?');
  }

  /** A new assembly, backstage unless `live` (an unattended stream that needs no Go live). */
  create(settings: AssemblySettings, options: { live?: boolean } = {}): Assembly {
    const now = new Date().toISOString();
    const live = options.live === true;
    const assembly: Assembly = {
      id: newAssemblyId(),
      ...settings,
      streamKey: randomBytes(18).toString('base64url'),
      phase: live ? 'live' : 'backstage',
      wentLiveAt: live ? now : undefined,
      endedAt: undefined,
      publicWatch: false,
      createdAt: now,
      updatedAt: now,
    };
    this.#db
      .prepare(
        `INSERT INTO assemblies
           (id, name, layout, max_tiles, recording, dvr_minutes, stream_key, phase, went_live_at,
            created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        assembly.id,
        assembly.name,
        assembly.layout,
        assembly.maxTiles,
        assembly.recording ? 1 : 0,
        assembly.dvrMinutes,
        assembly.streamKey,
        assembly.phase,
        assembly.wentLiveAt ?? null,
        assembly.createdAt,
        assembly.updatedAt,
      );
    return assembly;
  }

  list(): Assembly[] {
    const rows = this.#db
      .prepare('SELECT * FROM assemblies ORDER BY created_at, id')
      .all() as AssemblyRow[];
    return rows.map(toAssembly);
  }

  count(): number {
    const row = this.#db.prepare('SELECT COUNT(*) AS n FROM assemblies').get() as { n: number };
    return row.n;
  }

  find(id: AssemblyId): Assembly | undefined {
    const row = this.#findById.get(id);
    return row === undefined ? undefined : toAssembly(row);
  }

  /** Like `find`, but throws AssemblyNotFoundError. */
  get(id: AssemblyId): Assembly {
    const assembly = this.find(id);
    if (assembly === undefined) throw new AssemblyNotFoundError(id);
    return assembly;
  }

  update(id: AssemblyId, changes: Partial<AssemblySettings>): Assembly {
    const updated: Assembly = {
      ...this.get(id),
      ...changes,
      updatedAt: new Date().toISOString(),
    };
    this.#db
      .prepare(
        `UPDATE assemblies SET name = ?, layout = ?, max_tiles = ?, recording = ?,
           dvr_minutes = ?, updated_at = ? WHERE id = ?`,
      )
      .run(
        updated.name,
        updated.layout,
        updated.maxTiles,
        updated.recording ? 1 : 0,
        updated.dvrMinutes,
        updated.updatedAt,
        id,
      );
    return updated;
  }

  /** Moves the assembly to `phase`, stamping when it went live or ended. */
  setPhase(id: AssemblyId, phase: Phase): Assembly {
    const now = new Date().toISOString();
    const current = this.get(id);
    const updated: Assembly = {
      ...current,
      phase,
      wentLiveAt: phase === 'live' ? now : current.wentLiveAt,
      endedAt: phase === 'ended' ? now : current.endedAt,
      updatedAt: now,
    };
    this.#db
      .prepare(
        `UPDATE assemblies SET phase = ?, went_live_at = ?, ended_at = ?, updated_at = ?
           WHERE id = ?`,
      )
      .run(updated.phase, updated.wentLiveAt ?? null, updated.endedAt ?? null, now, id);
    return updated;
  }

  /** Turns watching without a viewer token on or off. */
  setPublicWatch(id: AssemblyId, publicWatch: boolean): Assembly {
    const updated: Assembly = {
      ...this.get(id),
      publicWatch,
      updatedAt: new Date().toISOString(),
    };
    this.#db
      .prepare('UPDATE assemblies SET public_watch = ?, updated_at = ? WHERE id = ?')
      .run(publicWatch ? 1 : 0, updated.updatedAt, id);
    return updated;
  }

  /** Deletes the assembly and (by cascade) its invites. */
  delete(id: AssemblyId): void {
    const result = this.#db.prepare('DELETE FROM assemblies WHERE id = ?').run(id);
    if (result.changes === 0) throw new AssemblyNotFoundError(id);
  }
}
