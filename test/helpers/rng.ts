import { mulberry32 } from '../../src/data/random.js';

/** Seeded random numbers for tests (mulberry32 + Box-Muller), so every failure reproduces. */
export function makeRng(seed: number): { uniform: () => number; normal: () => number; int: (n: number) => number } {
  const uniform = mulberry32(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal, int: (n: number) => Math.floor(uniform() * n) };
}

/** A Float32Array of `n` standard normal values. */
export function randn(rng: ReturnType<typeof makeRng>, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}
