/**
 * The fuzzers' seeded pseudo-random generator (mulberry32): the same seed gives the same
 * messages, so a failure is reproduced by running the suite again with MONTAGE_FUZZ_SEED set to
 * the seed it printed.
 */
export class Rng {
  readonly seed: number;
  #state: number;

  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.#state = this.seed;
  }

  /**
   * The seed from MONTAGE_FUZZ_SEED (decimal), or a fresh one; printed with `suite` so that a
   * failing run says how to repeat it.
   */
  static fromEnv(suite: string): Rng {
    const configured = process.env.MONTAGE_FUZZ_SEED;
    const seed =
      configured !== undefined && configured !== ''
        ? Number.parseInt(configured, 10)
        : Math.floor(Math.random() * 2 ** 32);
    if (!Number.isFinite(seed)) throw new Error(`MONTAGE_FUZZ_SEED must be an integer`);
    console.log(
      `# ${suite}: fuzz seed ${seed >>> 0} (repeat with MONTAGE_FUZZ_SEED=${seed >>> 0})`,
    );
    return new Rng(seed);
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(0, items.length - 1)] as T;
  }

  bytes(length: number): Buffer {
    const out = Buffer.alloc(length);
    for (let i = 0; i < length; i++) out[i] = this.int(0, 255);
    return out;
  }

  /** Printable ASCII and a few awkward characters (quotes, controls, non-BMP, a lone surrogate). */
  text(length: number): string {
    const odd = ['"', '\\', '\n', '\r', '\0', '\u2028', '😀', '\ud800', '%', '{', '}', ' '];
    let out = '';
    for (let i = 0; i < length; i++) {
      out += this.chance(0.1) ? this.pick(odd) : String.fromCharCode(this.int(0x20, 0x7e));
    }
    return out;
  }
}
