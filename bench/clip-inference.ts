/**
 * Clip inference speed: TSM-ResNet-50 (8 segments, shift 1/8 blockres) on one 8x224x224 RGB clip (batch 1), ours
 * (onnxruntime-node, CPU) vs PyTorch eager CPU (bench/clip_inference_ref.py with Debian's /usr/bin/python3), both with
 * the same thread count and the same weights (the tsm_resnet50 fixture checkpoint), in one run. Prints the median
 * latency of each side, the ratio, and the logits' max |diff| as a sanity check.
 *
 *   npx tsx bench/clip-inference.ts [--threads 2] [--warmup 2] [--runs 10] [--weights FILE.pth]
 *
 * Run it alone: on a 2-core machine any other heavy job skews both numbers.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNpy, writeNpy } from '../src/checkpoint/npy.js';
import { loadModel } from '../src/models/load.js';
import { float32, numel } from '../src/tensor/index.js';
import { lastJsonLine, median, printBenchResult } from './result.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '2' },
    runs: { type: 'string', default: '10' },
    weights: { type: 'string', default: resolve(here, '..', '..', 'shared', 'fixtures', 'tsm_resnet50.pth') },
  },
});
const THREADS = Number(values.threads);
const WARMUP = Number(values.warmup);
const RUNS = Number(values.runs);
const PYTHON = process.env.TSM_PYTHON ?? '/usr/bin/python3';

const dir = mkdtempSync(join(tmpdir(), 'tsm-bench-clip-'));
try {
  // a deterministic input in the normalized range
  const shape = [1, 8 * 3, 224, 224];
  const data = new Float32Array(numel(shape));
  let s = 1;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s / 2 ** 32) * 4 - 2;
  }
  const input = float32(shape, data);
  const inputPath = join(dir, 'x.npy');
  await writeNpy(inputPath, input);

  const runner = await loadModel(values.weights!, { arch: 'resnet50', numSegments: 8, isShift: true, shiftDiv: 8, shiftPlace: 'blockres', threads: THREADS });
  const ours: number[] = [];
  let logits = await runner.logits(input); // also builds the session
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const t0 = performance.now();
    logits = await runner.logits(input);
    if (i >= WARMUP) ours.push(performance.now() - t0);
  }
  await runner.release();

  const refOut = join(dir, 'y_ref.npy');
  const stdout = execFileSync(PYTHON, [join(here, 'clip_inference_ref.py'), values.weights!, inputPath, refOut, String(THREADS), String(WARMUP), String(RUNS)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS) },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const ref = lastJsonLine<{ ms: number[]; torch: string; threads: number }>(stdout);
  const y = logits.data as Float32Array;
  const yRef = (await readNpy(refOut)).data as Float32Array;
  let maxDiff = 0;
  for (let i = 0; i < y.length; i++) maxDiff = Math.max(maxDiff, Math.abs(y[i] - yRef[i]));

  const a = median(ours);
  const b = median(ref.ms);
  console.log(`TSM-ResNet-50, 8x3x224x224 clip, batch 1, ${THREADS} threads, median of ${RUNS} runs after ${WARMUP} warm-up`);
  console.log(`  ours (onnxruntime-node): ${a.toFixed(1)} ms  [min ${Math.min(...ours).toFixed(1)}, max ${Math.max(...ours).toFixed(1)}]`);
  console.log(`  PyTorch ${ref.torch} CPU (${ref.threads} threads): ${b.toFixed(1)} ms  [min ${Math.min(...ref.ms).toFixed(1)}, max ${Math.max(...ref.ms).toFixed(1)}]`);
  console.log(`  ratio ours / PyTorch: ${(a / b).toFixed(2)}x   logits max |diff| ${maxDiff.toExponential(2)}`);
  printBenchResult({
    bench: 'clip-inference',
    title: `TSM-ResNet-50 clip, 8x3x224x224, batch 1, ${THREADS} threads`,
    metrics: [{ name: 'clip latency (median)', unit: 'ms', ours: a, pytorch: b, better: 'lower' }],
    notes: [`PyTorch ${ref.torch}`, `logits max |diff| ${maxDiff.toExponential(2)}`],
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
