/** Seeded random numbers for tests (mulberry32 + Box-Muller), so every failure reproduces. */
export function makeRng(seed: number): { uniform: () => number; normal: () => number; int: (n: number) => number } {
  let a = seed >>> 0;
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return { uniform, normal, int: (n: number) => Math.floor(uniform() * n) };
}

/** A Float32Array of `n` standard normal values. */
export function randn(rng: ReturnType<typeof makeRng>, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}
