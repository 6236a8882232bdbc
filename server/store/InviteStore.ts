/**
 * Invite links minted for an assembly: who minted which role's link, for whom (its label), until
 * when it works, and whether it was revoked.
 */
import type { InviteRole } from '../auth/roles.js';
import type { AssemblyId, InviteId } from '../domain/ids.js';
import type { SqliteDatabase } from './Database.js';

export interface Invite {
  id: InviteId;
  assemblyId: AssemblyId;
  role: InviteRole;
  url: string;
  /** Where or who the link is for ("Room 12"); null when none was given. */
  label: string | null;
  /** "role@assembly" of the token that minted it, or "cli". */
  createdBy: string;
  createdAt: string;
  expiresAt: string;
  /** When a moderator revoked it (its tokens are refused from then on); null while it works. */
  revokedAt: string | null;
}

interface InviteRow {
  id: string;
  assembly_id: string;
  role: string;
  url: string;
  label: string | null;
  created_by: string;
  created_at: string;
  expires_at: string;
  revoked_at: string | null;
}

function toInvite(row: InviteRow): Invite {
  return {
    id: row.id as InviteId,
    assemblyId: row.assembly_id as AssemblyId,
    role: row.role as InviteRole,
    url: row.url,
    label: row.label,
    createdBy: row.created_by,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
  };
}

export class InviteStore {
  readonly #db: SqliteDatabase;
  /**
   * The ids of revoked invites, kept in memory because every token verification asks (HLS
   * viewers present their token with each playlist request). This process is the only one that
   * revokes, so the set stays current; it is loaded once at start.
   */
  readonly #revoked: Set<InviteId>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    const rows = db.prepare('SELECT id FROM invites WHERE revoked_at IS NOT NULL').all() as {
      id: string;
    }[];
    this.#revoked = new Set(rows.map((row) => row.id as InviteId));
  }

  add(invite: Invite): void {
    this.#db
      .prepare(
        `INSERT INTO invites (id, assembly_id, role, url, label, created_by, created_at, expires_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(
        invite.id,
        invite.assemblyId,
        invite.role,
        invite.url,
        invite.label,
        invite.createdBy,
        invite.createdAt,
        invite.expiresAt,
        invite.revokedAt,
      );
  }

  find(id: InviteId): Invite | undefined {
    const row = this.#db.prepare('SELECT * FROM invites WHERE id = ?').get(id) as
      InviteRow | undefined;
    return row === undefined ? undefined : toInvite(row);
  }

  listFor(assemblyId: AssemblyId): Invite[] {
    const rows = this.#db
      .prepare('SELECT * FROM invites WHERE assembly_id = ? ORDER BY created_at, id')
      .all(assemblyId) as InviteRow[];
    return rows.map(toInvite);
  }

  /** Marks the invite revoked at `at` unless it already was; true if this call revoked it. */
  revoke(id: InviteId, at: string): boolean {
    const { changes } = this.#db
      .prepare('UPDATE invites SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL')
      .run(at, id);
    if (changes > 0) this.#revoked.add(id);
    return changes > 0;
  }

  isRevoked(id: InviteId): boolean {
    return this.#revoked.has(id);
  }
}
