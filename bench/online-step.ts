/**
 * Online TSM-MobileNetV2 step latency: onnxruntime-node (this package's step graph) vs PyTorch CPU
 * (bench/online_step_ref.py, the same model and weights), one after the other with the same thread count.
 *
 * usage: node --import tsx bench/online-step.ts [--size 224] [--threads 2] [--steps 100] [--warmup 10]
 * Needs Debian's /usr/bin/python3 with torch (or $TSM_PYTHON). Prints ms/frame for both and their ratio.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNpy } from '../src/checkpoint/npy.js';
import { openOnlineModel } from '../src/deploy/live.js';
import { loadOnlineMobileNetV2 } from '../src/models/online.js';
import { lastJsonLine, printBenchResult } from './result.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '224' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '100' },
    warmup: { type: 'string', default: '10' },
  },
});
const size = Number(values.size);
const threads = Number(values.threads);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const python = process.env.TSM_PYTHON ?? '/usr/bin/python3';
const dir = mkdtempSync(join(tmpdir(), 'tsm-online-bench-'));

try {
  // 1. PyTorch: writes the weights and frames, times its own loop.
  const ref = join(dirname(fileURLToPath(import.meta.url)), 'online_step_ref.py');
  const args = [ref, dir, '--size', String(size), '--threads', String(threads), '--steps', String(steps), '--warmup', String(warmup)];
  const r = spawnSync(python, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${python} ${ref} failed:\n${r.stderr}`);
  const torchResult = lastJsonLine<{ ms_per_frame: number; torch: string }>(r.stdout);

  // 2. onnxruntime-node: same weights and frames.
  const { model } = await loadOnlineMobileNetV2(join(dir, 'state_dict.pth'));
  const { stepper, release } = await openOnlineModel({ network: model, inputSize: size, threads });
  const frames = await readNpy(join(dir, 'frames.npy'));
  const refLogits = (await readNpy(join(dir, 'logits.npy'))).data as Float32Array;
  const per = 3 * size * size;
  const inputs = Array.from({ length: steps }, (_, i) => (frames.data as Float32Array).slice(i * per, (i + 1) * per));
  for (let i = 0; i < warmup; i++) await stepper.step(inputs[i % steps]);
  stepper.reset();
  let maxDiff = 0;
  const t0 = performance.now();
  const outs: Float32Array[] = [];
  for (let i = 0; i < steps; i++) outs.push(await stepper.step(inputs[i]));
  const ortMs = (performance.now() - t0) / steps;
  outs.forEach((o, i) => o.forEach((v, j) => (maxDiff = Math.max(maxDiff, Math.abs(v - refLogits[i * 27 + j])))));
  await release();

  const fmt = (x: number) => x.toFixed(2).padStart(8);
  console.log(`online TSM-MobileNetV2 step, ${size}x${size}, ${threads} threads, ${steps} frames (after ${warmup} warm-up)`);
  console.log(`  onnxruntime-node   ${fmt(ortMs)} ms/frame`);
  console.log(`  PyTorch ${torchResult.torch.padEnd(10)} ${fmt(torchResult.ms_per_frame)} ms/frame`);
  console.log(`  ratio (torch / ort) ${(torchResult.ms_per_frame / ortMs).toFixed(2)}x;  max |logit diff| ${maxDiff.toExponential(2)}`);
  printBenchResult({
    bench: 'online-step',
    title: `online TSM-MobileNetV2 step, ${size}x${size}, batch 1, ${threads} threads`,
    metrics: [{ name: 'step latency (mean)', unit: 'ms/frame', ours: ortMs, pytorch: torchResult.ms_per_frame, better: 'lower' }],
    notes: [`PyTorch ${torchResult.torch}`, `logits max |diff| ${maxDiff.toExponential(2)}`],
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
