/**
 * Who changed what, kept in SQLite so that it survives restarts: assembly created, changed,
 * deleted; invite minted. Entries are appended, never changed.
 */
import type { AssemblyId } from '../domain/ids.js';
import type { SqliteDatabase } from './Database.js';

export interface AuditEntry {
  seq: number;
  at: string;
  /** "role@assembly" of the acting token, or "cli". */
  actor: string;
  action: string;
  assemblyId: AssemblyId | undefined;
  details: Record<string, unknown>;
}

interface AuditRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  assembly_id: string | null;
  details: string;
}

export class AuditLog {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  record(
    actor: string,
    action: string,
    assemblyId: AssemblyId | undefined,
    details: Record<string, unknown> = {},
  ): void {
    this.#db
      .prepare(
        'INSERT INTO audit_log (at, actor, action, assembly_id, details) VALUES (?, ?, ?, ?, ?)',
      )
      .run(new Date().toISOString(), actor, action, assemblyId ?? null, JSON.stringify(details));
  }

  /** The newest `limit` entries, newest first. */
  recent(limit = 100): AuditEntry[] {
    const rows = this.#db
      .prepare('SELECT * FROM audit_log ORDER BY seq DESC LIMIT ?')
      .all(limit) as AuditRow[];
    return rows.map((row) => ({
      seq: row.seq,
      at: row.at,
      actor: row.actor,
      action: row.action,
      assemblyId: (row.assembly_id ?? undefined) as AssemblyId | undefined,
      details: JSON.parse(row.details) as Record<string, unknown>,
    }));
  }
}
