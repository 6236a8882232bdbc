/**
 * Reactions in time: every counted reaction is stored at the second of program time the viewer
 * was watching when they sent it (their page's EXT-X-PROGRAM-DATE-TIME on screen; now when the
 * page does not say), so that totals cover the whole assembly (across restarts and pages opened
 * late) and a viewer who watches that moment later sees them replayed.
 */
import type { Logger } from '../log.js';
import type { ReactionStore } from '../store/ReactionStore.js';
import type { AssemblyId } from './ids.js';
import type { LiveAssembly } from './LiveAssemblies.js';
import type { ReactionSecond } from './Reactions.js';

/** How long a replay window may be: a page asks for the next half-minute or so. */
export const MAX_REPLAY_WINDOW_MS = 10 * 60 * 1000;

export class ReactionLog {
  readonly #store: ReactionStore;
  readonly #log: Logger;

  constructor(store: ReactionStore, logger: Logger) {
    this.#store = store;
    this.#log = logger;
  }

  /** Seeds `live`'s totals with the stored ones and stores its reactions from now on. */
  follow(live: LiveAssembly): void {
    live.seedReactionTotals(this.#store.totals(live.id));
    live.on('reactionSeconds', (seconds) => {
      try {
        this.#store.add(live.id, seconds);
      } catch (error) {
        this.#log.warn('storing reactions failed', { assembly: live.id, error: String(error) });
      }
    });
  }

  totals(assemblyId: AssemblyId): Record<string, number> {
    return this.#store.totals(assemblyId);
  }

  /** The reactions sent at program times in [fromMs, toMs). */
  between(assemblyId: AssemblyId, fromMs: number, toMs: number): ReactionSecond[] {
    return this.#store.between(assemblyId, fromMs, toMs);
  }
}
