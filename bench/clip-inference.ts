/**
 * Clip inference speed: TSM-ResNet-50 (8 segments, shift 1/8 blockres) on one 8x224x224 RGB clip (batch 1), ours
 * (onnxruntime-node, CPU) vs PyTorch eager CPU (bench/clip_inference_ref.py with Debian's /usr/bin/python3, and with
 * the official CPU wheel where bench/setup.sh installed it), and vs onnxruntime-node running PyTorch's own ONNX export
 * of the same model (torch.onnx.export with Debian's torch: same runtime and kernels, so it compares the graphs), all
 * with the same thread count and the same weights (the tsm_resnet50 fixture checkpoint), in one run. Prints the
 * median latency of each, the ratios, and the logits' max |diff| as a sanity check. Ours and the export run by turns
 * in one process; the PyTorch runs are their own processes before them.
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
import { createSession } from '../src/runtime/index.js';
import { type HostTensor, float32, numel } from '../src/tensor/index.js';
import { type BenchMetric, debianPython, lastJsonLine, median, printBenchResult, wheelPython } from './result.js';

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
const PYTHON = debianPython();
const WHEEL = wheelPython();

/** Runs bench/clip_inference_ref.py with `python`; returns its timings and logits. */
async function runReference(python: string, inputPath: string, outPath: string, exportPath?: string): Promise<{ ms: number[]; torch: string; threads: number; logits: HostTensor }> {
  const stdout = execFileSync(python, [join(here, 'clip_inference_ref.py'), values.weights!, inputPath, outPath, String(THREADS), String(WARMUP), String(RUNS), ...(exportPath ? [exportPath] : [])], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(THREADS) },
    stdio: ['ignore', 'pipe', 'ignore'],
    maxBuffer: 1 << 24,
  });
  return { ...lastJsonLine<{ ms: number[]; torch: string; threads: number }>(stdout), logits: await readNpy(outPath) };
}

/** max |a - b| over two logit tensors. */
function maxAbsDiff(a: HostTensor, b: HostTensor): number {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

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

  // PyTorch's side first: Debian's run also writes PyTorch's own ONNX export of the model
  const ref = await runReference(PYTHON, inputPath, join(dir, 'y_ref.npy'), join(dir, 'tsm_export.onnx'));
  const wheel = WHEEL ? await runReference(WHEEL, inputPath, join(dir, 'y_wheel.npy')) : undefined;

  // ours and the export on the same onnxruntime, with the session options our runner uses, run by turns so that
  // a change in the machine's load hits both
  const runner = await loadModel(values.weights!, { arch: 'resnet50', numSegments: 8, isShift: true, shiftDiv: 8, shiftPlace: 'blockres', threads: THREADS });
  const exported = await createSession(join(dir, 'tsm_export.onnx'), { threads: THREADS, name: 'tsm_export.onnx' });
  const runExport = async () => (await exported.run({ [exported.inputNames[0]]: input }))[exported.outputNames[0]];
  const ours: number[] = [];
  const viaExport: number[] = [];
  let logits = await runner.logits(input); // also builds the session
  let exportLogits = await runExport();
  for (let i = 0; i < WARMUP + RUNS; i++) {
    let t0 = performance.now();
    logits = await runner.logits(input);
    if (i >= WARMUP) ours.push(performance.now() - t0);
    t0 = performance.now();
    exportLogits = await runExport();
    if (i >= WARMUP) viaExport.push(performance.now() - t0);
  }
  await runner.release();
  await exported.release();

  const a = median(ours);
  const b = median(ref.ms);
  const c = wheel ? median(wheel.ms) : undefined;
  const e = median(viaExport);
  const range = (xs: number[]) => `[min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}]`;
  const diffs = [`logits max |diff| ours vs Debian's PyTorch ${maxAbsDiff(logits, ref.logits).toExponential(2)}`, `vs PyTorch's export on onnxruntime ${maxAbsDiff(logits, exportLogits).toExponential(2)}`];
  if (wheel) diffs.push(`vs the official wheel ${maxAbsDiff(logits, wheel.logits).toExponential(2)}`);
  console.log(`TSM-ResNet-50, 8x3x224x224 clip, batch 1, ${THREADS} threads, median of ${RUNS} runs after ${WARMUP} warm-up`);
  console.log(`  ours (onnxruntime-node): ${a.toFixed(1)} ms  ${range(ours)}`);
  console.log(`  PyTorch ${ref.torch} (Debian, ${ref.threads} threads): ${b.toFixed(1)} ms  ${range(ref.ms)}  ours / this ${(a / b).toFixed(2)}x`);
  if (wheel && c !== undefined) console.log(`  PyTorch ${wheel.torch} (official wheel, ${wheel.threads} threads): ${c.toFixed(1)} ms  ${range(wheel.ms)}  ours / this ${(a / c).toFixed(2)}x`);
  else console.log('  official PyTorch CPU wheel: not installed (bench/setup.sh)');
  console.log(`  torch.onnx.export (Debian's torch) on onnxruntime-node: ${e.toFixed(1)} ms  ${range(viaExport)}  ours / this ${(a / e).toFixed(2)}x`);
  console.log(`  ${diffs.join(', ')}`);
  const metrics: BenchMetric[] = [
    { name: 'clip latency (median)', unit: 'ms', ours: a, pytorch: b, ...(c === undefined ? {} : { pytorchWheel: c }), better: 'lower' },
    { name: "clip latency (median), vs PyTorch's ONNX export", unit: 'ms', ours: a, pytorch: e, reference: "torch.onnx.export (Debian's torch, opset 17) run by onnxruntime-node", better: 'lower' },
  ];
  printBenchResult({
    bench: 'clip-inference',
    title: `TSM-ResNet-50 clip, 8x3x224x224, batch 1, ${THREADS} threads`,
    metrics,
    notes: [`Debian's PyTorch: ${ref.torch}`, wheel ? `official wheel: ${wheel.torch}` : 'official PyTorch CPU wheel not installed (bench/setup.sh): Debian\'s PyTorch only', ...diffs],
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
