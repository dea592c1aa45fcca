/**
 * The machine-readable last line every bench prints, which bench/run-all.ts collects into bench/results/latest.md:
 * one JSON object `{ bench, title, metrics: [{ name, unit, ours, pytorch, better }], notes }`.
 */

/** One measured quantity, ours and PyTorch's (null where PyTorch has no counterpart, e.g. the browser). */
export interface BenchMetric {
  readonly name: string;
  /** `ms`, `ms/frame`, `clips/s`, `MB`, ... */
  readonly unit: string;
  readonly ours: number;
  readonly pytorch: number | null;
  /** Which direction is faster / smaller. */
  readonly better: 'lower' | 'higher';
}

/** What one bench reports. */
export interface BenchResult {
  /** The bench file's stem, e.g. `clip-inference`. */
  readonly bench: string;
  /** The setting, e.g. `TSM-ResNet-50, 8x3x224x224, batch 1, 2 threads`. */
  readonly title: string;
  readonly metrics: readonly BenchMetric[];
  /** Versions and sanity checks (max |diff| of the outputs, ...). */
  readonly notes?: readonly string[];
}

/** Prints `result` as the last line of the bench's output. */
export function printBenchResult(result: BenchResult): void {
  console.log(JSON.stringify(result));
}

/** The median (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** The JSON object on the last line of a child's output (how benches and their PyTorch references report). */
export function lastJsonLine<T>(stdout: string): T {
  return JSON.parse(stdout.trim().split('\n').pop() ?? '') as T;
}
