/**
 * The edges operators registered (or MONTAGE_EDGES seeded on the first start), kept in SQLite so
 * that they survive restarts: where viewers fetch HLS, where the origin pushes, where the app
 * server probes, and whether the edge takes new viewers. Rows are mapped to typed records here
 * and nowhere else; checks (URL syntax, duplicates) are the edge registry's.
 */
import type { EdgeState } from '../edges/EdgeView.js';
import type { SqliteDatabase } from './Database.js';

export interface StoredEdge {
  id: string;
  /** http(s) base URL viewers' browsers fetch `/hls/...` from; no trailing slash. */
  publicUrl: string;
  /** rtmp://HOST:PORT/APP the origin pushes every live stream to. */
  ingestUrl: string;
  /** http(s) base URL the app server probes (`/stat`, `/nginx_status`, playlists). */
  statusUrl: string;
  state: EdgeState;
  /** Who registered it: "operator", "config" (MONTAGE_EDGES) or "cli". */
  createdBy: string;
  createdAt: string;
  updatedAt: string;
}

/** What seeded the table from MONTAGE_EDGES, and when. */
export interface EdgeSeed {
  seededAt: string;
  /** The seeded entries as JSON (`ConfiguredEdge[]`), to tell whether MONTAGE_EDGES changed. */
  edges: string;
}

interface EdgeRow {
  id: string;
  public_url: string;
  ingest_url: string;
  status_url: string;
  state: string;
  created_by: string;
  created_at: string;
  updated_at: string;
}

function toEdge(row: EdgeRow): StoredEdge {
  return {
    id: row.id,
    publicUrl: row.public_url,
    ingestUrl: row.ingest_url,
    statusUrl: row.status_url,
    state: row.state === 'draining' ? 'draining' : 'active',
    createdBy: row.created_by,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export class EdgeStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  /** Every stored edge, in the order they were registered. */
  list(): StoredEdge[] {
    const rows = this.#db.prepare('SELECT * FROM edges ORDER BY seq').all() as EdgeRow[];
    return rows.map(toEdge);
  }

  insert(edge: StoredEdge): void {
    this.#db
      .prepare(
        `INSERT INTO edges (id, public_url, ingest_url, status_url, state, created_by, created_at,
           updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        edge.id,
        edge.publicUrl,
        edge.ingestUrl,
        edge.statusUrl,
        edge.state,
        edge.createdBy,
        edge.createdAt,
        edge.updatedAt,
      );
  }

  /** Sets an edge's state; false when no edge has that id. */
  setState(id: string, state: EdgeState, updatedAt: string): boolean {
    const result = this.#db
      .prepare('UPDATE edges SET state = ?, updated_at = ? WHERE id = ?')
      .run(state, updatedAt, id);
    return result.changes > 0;
  }

  /** Deletes an edge; false when no edge has that id. */
  delete(id: string): boolean {
    return this.#db.prepare('DELETE FROM edges WHERE id = ?').run(id).changes > 0;
  }

  /** The seeding of the table, or undefined when MONTAGE_EDGES has not seeded it yet. */
  seed(): EdgeSeed | undefined {
    const row = this.#db.prepare('SELECT seeded_at, edges FROM edge_seed WHERE id = 1').get() as
      { seeded_at: string; edges: string } | undefined;
    return row === undefined ? undefined : { seededAt: row.seeded_at, edges: row.edges };
  }

  /**
   * Seeds the table once: inserts `edges` and records the seeding in one transaction, so that a
   * crash in between cannot seed twice. False (and nothing written) when it was seeded already.
   */
  seedOnce(edges: readonly StoredEdge[], seed: EdgeSeed): boolean {
    const apply = this.#db.transaction(() => {
      if (this.seed() !== undefined) return false;
      for (const edge of edges) this.insert(edge);
      this.#db
        .prepare('INSERT INTO edge_seed (id, seeded_at, edges) VALUES (1, ?, ?)')
        .run(seed.seededAt, seed.edges);
      return true;
    });
    return apply.immediate();
  }
}
