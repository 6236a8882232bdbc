/**
 * A token bucket per key (a bearer token, an address, a socket): `perMinute` requests a minute
 * on average, in bursts of up to `perMinute`. Generous on purpose: it stops a runaway script or
 * a flood, never a moderator clicking fast (nor the tests, which make a few hundred requests).
 */

/** Buckets kept before full ones are swept away (a full bucket is the same as none). */
const SWEEP_AT = 10_000;

interface Bucket {
  tokens: number;
  /** Date.now() when `tokens` was last brought up to date. */
  at: number;
}

export class RateLimiter {
  readonly perMinute: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  /** `perMinute` 0 turns limiting off. */
  constructor(perMinute: number, now: () => number = Date.now) {
    this.perMinute = perMinute;
    this.#now = now;
  }

  /** Takes one request for `key`; false when its bucket is empty (the request is refused). */
  take(key: string): boolean {
    if (this.perMinute === 0) return true;
    const now = this.#now();
    const bucket = this.#buckets.get(key) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(
      this.perMinute,
      bucket.tokens + ((now - bucket.at) * this.perMinute) / 60_000,
    );
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.#buckets.set(key, bucket);
      return false;
    }
    bucket.tokens -= 1;
    if (!this.#buckets.has(key) && this.#buckets.size >= SWEEP_AT) this.#sweep(now);
    this.#buckets.set(key, bucket);
    return true;
  }

  /** Drops `key`'s bucket (its socket closed). */
  forget(key: string): void {
    this.#buckets.delete(key);
  }

  /** Removes buckets that have refilled: keys seen once (addresses, sockets) do not pile up. */
  #sweep(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      const tokens = bucket.tokens + ((now - bucket.at) * this.perMinute) / 60_000;
      if (tokens >= this.perMinute) this.#buckets.delete(key);
    }
  }
}
