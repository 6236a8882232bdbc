/**
 * The chapters of assemblies' programs: one row per program change while live (a cut, a clip
 * injected, a layout change), at its program time. Rows are mapped to typed records here and
 * nowhere else; they go with their assembly (ON DELETE CASCADE).
 */
import type { AssemblyId } from '../domain/ids.js';
import type { SqliteDatabase } from './Database.js';

export const CHAPTER_KINDS = ['live', 'cut', 'clip', 'layout'] as const;
export type ChapterKind = (typeof CHAPTER_KINDS)[number];

export interface Chapter {
  /**
   * Program time, Unix ms: the wall clock the program stream carries (server/hls/programClock.ts),
   * so it is the EXT-X-PROGRAM-DATE-TIME of the playlists' fragment that shows it.
   */
  atMs: number;
  kind: ChapterKind;
  title: string;
}

interface ChapterRow {
  at_ms: number;
  kind: string;
  title: string;
}

export class ChapterStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  add(assemblyId: AssemblyId, chapter: Chapter): void {
    this.#db
      .prepare('INSERT INTO chapters (assembly_id, at_ms, kind, title) VALUES (?, ?, ?, ?)')
      .run(assemblyId, chapter.atMs, chapter.kind, chapter.title);
  }

  /** An assembly's chapters in program order. */
  list(assemblyId: AssemblyId): Chapter[] {
    const rows = this.#db
      .prepare('SELECT at_ms, kind, title FROM chapters WHERE assembly_id = ? ORDER BY at_ms, seq')
      .all(assemblyId) as ChapterRow[];
    return rows.map((row) => ({
      atMs: row.at_ms,
      kind: row.kind as ChapterKind,
      title: row.title,
    }));
  }
}
