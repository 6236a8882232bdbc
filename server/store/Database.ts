/**
 * The SQLite database (better-sqlite3), created with its schema on first start. Migrations are
 * numbered by their place in `MIGRATIONS` and recorded in SQLite's `user_version`, so each one
 * runs exactly once; append new ones, never edit old ones.
 */
import BetterSqlite3 from 'better-sqlite3';
import { privateFile } from './privateFiles.js';

export type SqliteDatabase = BetterSqlite3.Database;

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE assemblies (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     layout TEXT NOT NULL,
     max_tiles INTEGER NOT NULL,
     recording INTEGER NOT NULL,
     dvr_minutes INTEGER NOT NULL,
     stream_key TEXT NOT NULL UNIQUE,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE invites (
     id TEXT PRIMARY KEY,
     assembly_id TEXT NOT NULL REFERENCES assemblies(id) ON DELETE CASCADE,
     role TEXT NOT NULL,
     url TEXT NOT NULL,
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     expires_at TEXT NOT NULL
   );
   CREATE INDEX invites_by_assembly ON invites(assembly_id);
   CREATE TABLE audit_log (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at TEXT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     assembly_id TEXT,
     details TEXT NOT NULL
   );`,
  // The edge fleet (server/store/EdgeStore.ts). `edge_seed` has one row once MONTAGE_EDGES
  // seeded the table (on the first start with this table); from then on the table is the truth.
  `CREATE TABLE edges (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     id TEXT NOT NULL UNIQUE,
     public_url TEXT NOT NULL UNIQUE,
     ingest_url TEXT NOT NULL UNIQUE,
     status_url TEXT NOT NULL,
     state TEXT NOT NULL CHECK (state IN ('active', 'draining')),
     created_by TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );
   CREATE TABLE edge_seed (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     seeded_at TEXT NOT NULL,
     edges TEXT NOT NULL
   );`,
  // Invite labels ("Room 12", signed into the link's token too) and revocation: a revoked
  // invite's tokens are refused everywhere (server/auth/Invites.ts).
  `ALTER TABLE invites ADD COLUMN label TEXT;
   ALTER TABLE invites ADD COLUMN revoked_at TEXT;`,
  // Backstage, live, ended (server/store/AssemblyStore.ts). Assemblies from before phases were
  // broadcast from the start, so they are live; new ones are created backstage.
  `ALTER TABLE assemblies ADD COLUMN phase TEXT NOT NULL DEFAULT 'live'
     CHECK (phase IN ('backstage', 'live', 'ended'));
   ALTER TABLE assemblies ADD COLUMN went_live_at TEXT;
   ALTER TABLE assemblies ADD COLUMN ended_at TEXT;`,
  // The archive (server/store/RecordingStore.ts): one row per program recording. No foreign
  // key: a recording outlives its assembly's row until retention or a moderator deletes it.
  `CREATE TABLE recordings (
     id TEXT PRIMARY KEY,
     assembly_id TEXT NOT NULL,
     assembly_name TEXT NOT NULL,
     file TEXT NOT NULL UNIQUE,
     state TEXT NOT NULL CHECK (state IN ('recording', 'finished')),
     started_at TEXT NOT NULL,
     finished_at TEXT,
     duration_ms INTEGER,
     size_bytes INTEGER
   );
   CREATE INDEX recordings_by_assembly ON recordings(assembly_id, started_at);`,
  // Chapters of an assembly's program (server/store/ChapterStore.ts): what changed on the
  // program and when, in program time (Unix ms, the playlists' EXT-X-PROGRAM-DATE-TIME).
  `CREATE TABLE chapters (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     assembly_id TEXT NOT NULL REFERENCES assemblies(id) ON DELETE CASCADE,
     at_ms INTEGER NOT NULL,
     kind TEXT NOT NULL CHECK (kind IN ('live', 'cut', 'clip', 'layout')),
     title TEXT NOT NULL
   );
   CREATE INDEX chapters_by_assembly ON chapters(assembly_id, at_ms);`,
  // Reactions by the second of program time they were sent at (server/store/ReactionStore.ts):
  // totals for the whole assembly, and the replay for viewers who watch that moment later.
  `CREATE TABLE reaction_seconds (
     assembly_id TEXT NOT NULL REFERENCES assemblies(id) ON DELETE CASCADE,
     second_ms INTEGER NOT NULL,
     reaction TEXT NOT NULL,
     count INTEGER NOT NULL,
     PRIMARY KEY (assembly_id, second_ms, reaction)
   );`,
  // Why a recording stopped by itself (a full disk, a write error); NULL when it was stopped.
  `ALTER TABLE recordings ADD COLUMN failure TEXT;`,
  // A public event: the watch API hands out signed HLS URLs without a viewer token
  // (server/http/hlsRoutes.ts). Off for every assembly unless an operator turns it on.
  `ALTER TABLE assemblies ADD COLUMN public_watch INTEGER NOT NULL DEFAULT 0;`,
];

/** Opens (creating if needed) the database at `file` and brings its schema up to date. */
export function openDatabase(file: string): SqliteDatabase {
  // It holds invite URLs with their tokens: readable by its owner only (see privateFiles.ts).
  if (file !== ':memory:') privateFile(file, [`${file}-wal`, `${file}-shm`]);
  const db = new BetterSqlite3(file);
  // WAL lets the token CLI write while the app server runs; foreign keys make deletes cascade.
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: SqliteDatabase): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the database has schema version ${current}, newer than this server's ${MIGRATIONS.length}`,
    );
  }
  const apply = db.transaction(() => {
    MIGRATIONS.slice(current).forEach((sql, index) => {
      db.exec(sql);
      db.pragma(`user_version = ${current + index + 1}`);
    });
  });
  apply.immediate();
}
