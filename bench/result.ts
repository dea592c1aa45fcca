/**
 * The machine-readable last line every bench prints, which bench/run-all.ts collects into bench/results/latest.md:
 * one JSON object `{ bench, title, metrics: [{ name, unit, ours, pytorch, pytorchWheel?, better }], notes }`.
 * Node only.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One measured quantity, ours and PyTorch's (null where PyTorch has no counterpart, e.g. the browser). */
export interface BenchMetric {
  readonly name: string;
  /** `ms`, `ms/frame`, `clips/s`, `MB`, ... */
  readonly unit: string;
  readonly ours: number;
  /** Debian's PyTorch (`/usr/bin/python3`, or `$TSM_PYTHON`). */
  readonly pytorch: number | null;
  /** The official PyTorch CPU wheel (bench/setup.sh's venv); absent where it is not installed. */
  readonly pytorchWheel?: number | null;
  /** What the PyTorch columns hold when it is not PyTorch eager, e.g. `torch.onnx.export on onnxruntime-node`. */
  readonly reference?: string;
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

/** Debian's Python with torch, which every bench's PyTorch side runs on. */
export const debianPython = (): string => process.env.TSM_PYTHON ?? '/usr/bin/python3';

/**
 * The Python of bench/setup.sh's venv with the official PyTorch CPU wheel (`$TSM_TORCH_WHEEL_PYTHON` wins; set it to
 * `none` to skip the wheel), or undefined where it is not installed.
 */
export function wheelPython(): string | undefined {
  const env = process.env.TSM_TORCH_WHEEL_PYTHON;
  if (env === 'none') return undefined;
  if (env) return env;
  const venv = join(dirname(fileURLToPath(import.meta.url)), '.venv-torch', 'bin', 'python');
  return existsSync(venv) ? venv : undefined;
}
