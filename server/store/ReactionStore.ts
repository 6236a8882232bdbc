/**
 * Reactions by the second of program time they were sent at, per assembly: one row per
 * (assembly, second, reaction) with its count, added to as presses arrive (once a second per
 * assembly, never per press). They go with their assembly (ON DELETE CASCADE).
 */
import type { AssemblyId } from '../domain/ids.js';
import type { ReactionSecond } from '../domain/Reactions.js';
import type { SqliteDatabase } from './Database.js';

export class ReactionStore {
  readonly #db: SqliteDatabase;

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  /** Adds the counts of `seconds` to the assembly's stored ones, in one transaction. */
  add(assemblyId: AssemblyId, seconds: readonly ReactionSecond[]): void {
    const upsert = this.#db.prepare(
      `INSERT INTO reaction_seconds (assembly_id, second_ms, reaction, count) VALUES (?, ?, ?, ?)
       ON CONFLICT (assembly_id, second_ms, reaction) DO UPDATE SET count = count + excluded.count`,
    );
    this.#db.transaction(() => {
      for (const second of seconds) {
        upsert.run(assemblyId, second.secondMs, second.reaction, second.count);
      }
    })();
  }

  /** Every stored reaction of the assembly, by reaction. */
  totals(assemblyId: AssemblyId): Record<string, number> {
    const rows = this.#db
      .prepare(
        'SELECT reaction, SUM(count) AS total FROM reaction_seconds WHERE assembly_id = ? GROUP BY reaction',
      )
      .all(assemblyId) as Array<{ reaction: string; total: number }>;
    return Object.fromEntries(rows.map((row) => [row.reaction, row.total]));
  }

  /** The seconds in [fromMs, toMs), in program order. */
  between(assemblyId: AssemblyId, fromMs: number, toMs: number): ReactionSecond[] {
    const rows = this.#db
      .prepare(
        `SELECT second_ms, reaction, count FROM reaction_seconds
         WHERE assembly_id = ? AND second_ms >= ? AND second_ms < ? ORDER BY second_ms, reaction`,
      )
      .all(assemblyId, fromMs, toMs) as Array<{
      second_ms: number;
      reaction: string;
      count: number;
    }>;
    return rows.map((row) => ({
      secondMs: row.second_ms,
      reaction: row.reaction,
      count: row.count,
    }));
  }
}
