/**
 * A seeded pseudo-random generator: MT19937 with numpy's legacy `RandomState` seeding and bounded-integer
 * algorithm, so `new RandomState(0).randint(0, 237)` returns what `np.random.seed(0); np.random.randint(0, 237)`
 * returns. That lets the one place where the original draws from numpy's global RNG in a deterministic test
 * (dense-sample validation indices after `np.random.seed(0)`) be reproduced exactly. Everywhere else (training
 * offsets, crop choices, flips) it is simply our seeded generator; the streams need not match the original's.
 */
import { UsageError } from '../errors.js';

const N = 624;
const M = 397;

/** MT19937 with numpy's `RandomState` interface subset that the data pipeline needs. */
export class RandomState {
  private readonly mt = new Uint32Array(N);
  private mti = N;

  /**
   * @param seed an integer in [0, 2^32); seeded as numpy's `RandomState(seed)` (Knuth's `init_genrand`)
   * @throws {UsageError} when the seed is not such an integer
   */
  constructor(seed = 0) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw UsageError.expected('seed', 'an integer in [0, 2^32)', seed);
    }
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      // 1812433253 * prev + i, kept to 32 bits (split the product to stay exact in doubles)
      mt[i] = (((((prev & 0xffff0000) >>> 16) * 1812433253) << 16) + (prev & 0x0000ffff) * 1812433253 + i) >>> 0;
    }
  }

  /** Next raw 32-bit output. */
  nextUint32(): number {
    const mt = this.mt;
    if (this.mti >= N) {
      let kk = 0;
      for (; kk < N - M; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
        mt[kk] = mt[kk + M] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      for (; kk < N - 1; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[kk + 1] & 0x7fffffff);
        mt[kk] = mt[kk + (M - N)] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      const y = (mt[N - 1] & 0x80000000) | (mt[0] & 0x7fffffff);
      mt[N - 1] = mt[M - 1] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      this.mti = 0;
    }
    let y = mt[this.mti++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** A double in [0, 1) with 53 random bits (numpy's `random_sample`). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * An integer in [low, high) (numpy's `randint(low, high)`; `randint(n)` means [0, n)).
   * NOTE: numpy's legacy masked rejection sampling, so the stream matches `RandomState.randint` draw for draw.
   * @throws {UsageError} when the range is empty or wider than 2^32
   */
  randint(low: number, high?: number): number {
    if (high === undefined) [low, high] = [0, low];
    const range = high - low - 1;
    if (!Number.isInteger(low) || !Number.isInteger(high) || range < 0 || range > 0xffffffff) {
      throw new UsageError(`randint: expected integers with low < high and a range of at most 2^32, got [${low}, ${high})`);
    }
    if (range === 0) return low;
    let mask = range;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    mask >>>= 0;
    let v: number;
    do v = (this.nextUint32() & mask) >>> 0;
    while (v > range);
    return low + v;
  }

  /** `size` draws of {@link randint}, in order (numpy's `randint(low, high, size=n)`). */
  randints(size: number, low: number, high?: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < size; i++) out.push(this.randint(low, high));
    return out;
  }

  /** A uniformly chosen element of a non-empty array. */
  choice<T>(items: readonly T[]): T {
    if (items.length === 0) throw new UsageError('choice: cannot choose from an empty list');
    return items[this.randint(items.length)];
  }

  /** A double in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** Shuffles `items` in place (Fisher-Yates) and returns it. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.randint(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}

/**
 * Mixes integers into one 32-bit seed (splitmix-style), so every (seed, epoch, index) gets its own independent
 * stream and a sample's randomness does not depend on which worker loads it or in which order.
 */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    h = (h + 0x9e3779b9) | 0;
  }
  return h >>> 0;
}

/**
 * mulberry32: a small, fast seeded generator of uniforms in [0, 1) for what needs no numpy-compatible stream
 * (weight initialization, dropout masks, tests).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values by Box-Muller over {@link mulberry32} (two uniforms per value). */
export function mulberry32Normal(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}
