/** Invite links minted for an assembly: who minted which role's link, and until when it works. */
import type { InviteRole } from '../auth/roles.js';
import type { AssemblyId, InviteId } from '../domain/ids.js';
import type { SqliteDatabase } from './Database.js';

export interface Invite {
  id: InviteId;
  assemblyId: AssemblyId;
  role: InviteRole;
  url: string;
  /** "role@assembly" of the token that minted it, or "cli". */
  createdBy: string;
  createdAt: string;
  expiresAt: string;
}

interface InviteRow {
  id: string;
  assembly_id: string;
  role: string;
  url: string;
  created_by: string;
  created_at: string;
  expires_at: string;
}

export class InviteStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  add(invite: Invite): void {
    this.#db
      .prepare(
        `INSERT INTO invites (id, assembly_id, role, url, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        invite.id,
        invite.assemblyId,
        invite.role,
        invite.url,
        invite.createdBy,
        invite.createdAt,
        invite.expiresAt,
      );
  }

  listFor(assemblyId: AssemblyId): Invite[] {
    const rows = this.#db
      .prepare('SELECT * FROM invites WHERE assembly_id = ? ORDER BY created_at, id')
      .all(assemblyId) as InviteRow[];
    return rows.map((row) => ({
      id: row.id as InviteId,
      assemblyId: row.assembly_id as AssemblyId,
      role: row.role as InviteRole,
      url: row.url,
      createdBy: row.created_by,
      createdAt: row.created_at,
      expiresAt: row.expires_at,
    }));
  }
}
