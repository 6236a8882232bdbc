/**
 * Viewer reactions of one assembly, counted per second. Thousands of viewers may press a button
 * at once: forwarding every press to every studio would multiply the traffic by the audience,
 * so presses are counted here and the studio gets one `reactions:tick` a second with totals.
 *
 * Each sender has a token bucket (a few presses a second, a small burst), so one viewer holding
 * a key down cannot drown out everyone else or inflate the counts.
 */

export interface ReactionLimits {
  /** Presses a sender may make per second on average. */
  perSecond: number;
  /** Presses a sender may make at once after a quiet spell. */
  burst: number;
}

/** Reactions of one second of program time (Unix ms, a multiple of 1000). */
export interface ReactionSecond {
  secondMs: number;
  reaction: string;
  count: number;
}

export const DEFAULT_REACTION_LIMITS: ReactionLimits = { perSecond: 3, burst: 6 };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class Reactions {
  readonly #limits: ReactionLimits;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #counts = new Map<string, number>();
  /** Every counted press of the assembly, so that a page opened late shows them all. */
  readonly #totals = new Map<string, number>();
  /** Counted presses not yet stored, by "second|reaction" of program time. */
  #timeline = new Map<string, ReactionSecond>();

  constructor(limits: ReactionLimits = DEFAULT_REACTION_LIMITS, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Counts one press by `sender` at program time `atMs` (what the sender was watching; now by
   * default); false when the sender is over its rate (not counted).
   */
  add(sender: string, reaction: string, atMs?: number): boolean {
    const now = this.#now();
    const bucket = this.#buckets.get(sender) ?? { tokens: this.#limits.burst, updatedAt: now };
    bucket.tokens = Math.min(
      this.#limits.burst,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * this.#limits.perSecond,
    );
    bucket.updatedAt = now;
    this.#buckets.set(sender, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    this.#counts.set(reaction, (this.#counts.get(reaction) ?? 0) + 1);
    this.#totals.set(reaction, (this.#totals.get(reaction) ?? 0) + 1);
    const secondMs = Math.floor((atMs ?? now) / 1000) * 1000;
    const key = `${secondMs}|${reaction}`;
    const second = this.#timeline.get(key) ?? { secondMs, reaction, count: 0 };
    second.count += 1;
    this.#timeline.set(key, second);
    return true;
  }

  /** The presses counted since the last call, by second of program time. */
  flushTimeline(): ReactionSecond[] {
    const seconds = [...this.#timeline.values()];
    this.#timeline = new Map();
    return seconds;
  }

  /** Adds the totals stored before this assembly opened on this server (a restart). */
  seedTotals(totals: Record<string, number>): void {
    for (const [reaction, count] of Object.entries(totals)) {
      this.#totals.set(reaction, (this.#totals.get(reaction) ?? 0) + count);
    }
  }

  /** The counts since the last call, or undefined when nobody reacted. */
  flush(): Record<string, number> | undefined {
    if (this.#counts.size === 0) return undefined;
    const counts = Object.fromEntries(this.#counts);
    this.#counts = new Map();
    return counts;
  }

  /** Counted presses so far, by reaction. */
  get totals(): Record<string, number> {
    return Object.fromEntries(this.#totals);
  }

  /** Forgets a sender that left (its bucket would otherwise stay for the assembly's life). */
  forget(sender: string): void {
    this.#buckets.delete(sender);
  }
}
