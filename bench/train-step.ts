/**
 * One TSM training step (forward, cross-entropy, backward, clip_grad_norm_(20), SGD with TSM's groups and partial
 * BN) of TSM-MobileNetV2 and TSM-ResNet-50, ours (one onnxruntime-node graph) vs PyTorch CPU
 * (bench/train_step_ref.py, the same weights and batch), same thread count, in one run. Each side of each model runs
 * in its own process, so the peak RSS figures are per model.
 *
 * usage: node --import tsx bench/train-step.ts [--size 112] [--segments 8] [--batch 2] [--threads 2] [--steps 9]
 *        [--warmup 2] [--arch mobilenetv2,resnet50]
 * Needs Debian's /usr/bin/python3 with torch (or $TSM_PYTHON). Prints median ms/step, the ratio and peak RSS.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNpy } from '../src/checkpoint/npy.js';
import { loadTsn } from '../src/models/load.js';
import type { Module } from '../src/nn/index.js';
import { SGD, TrainStep, adjustLearningRate, getOptimPolicies, setTrainMode } from '../src/train/index.js';
import { type BenchMetric, median, printBenchResult } from './result.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '112' },
    segments: { type: 'string', default: '8' },
    batch: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '2' },
    arch: { type: 'string', default: 'mobilenetv2,resnet50' },
    child: { type: 'string' },
    dir: { type: 'string' },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);

interface SideResult {
  readonly ms: number;
  readonly ms_min: number;
  readonly first_loss: number;
  readonly peak_rss_mb: number;
}

/** Ours, in this (child) process: load the reference's checkpoint and batch, time the steps. */
async function runOurs(arch: string, dir: string): Promise<SideResult> {
  const model = await loadTsn(join(dir, `${arch}.pth`), { numSegments: num('segments'), arch });
  setTrainMode(model);
  const base = model.base_model as unknown as Record<string, Module> & { lastLayerName: string };
  base[base.lastLayerName].eval();
  const sgd = new SGD(getOptimPolicies(model), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  adjustLearningRate(sgd, 0, { lr: 0.01, lrSteps: [50, 100] });
  const input = await readNpy(join(dir, `${arch}_input.npy`));
  const labels = await readNpy(join(dir, `${arch}_labels.npy`));
  const step = await TrainStep.create(model, sgd, { inputShape: input.shape, clipGradNorm: 20, threads: num('threads') });
  const times: number[] = [];
  let firstLoss = NaN;
  for (let i = 0; i < num('warmup') + num('steps'); i++) {
    const t0 = performance.now();
    const r = await step.run(input, labels);
    const dt = performance.now() - t0;
    if (i === 0) firstLoss = r.loss;
    if (i >= num('warmup')) times.push(dt);
  }
  await step.release();
  return { ms: median(times), ms_min: Math.min(...times), first_loss: firstLoss, peak_rss_mb: process.resourceUsage().maxRSS / 1024 };
}

function runChild(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout.trim().split('\n').pop()!;
}

async function main(): Promise<void> {
  if (values.child) {
    console.log(JSON.stringify(await runOurs(values.child, values.dir!)));
    return;
  }
  const python = process.env.TSM_PYTHON ?? '/usr/bin/python3';
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'tsm-train-bench-'));
  const common = ['--size', values.size!, '--segments', values.segments!, '--batch', values.batch!, '--threads', values.threads!, '--steps', values.steps!, '--warmup', values.warmup!];
  try {
    const shape = `${values.segments}x${values.size}x${values.size}, batch ${values.batch}`;
    console.log(`TSM training step (forward + CE + backward + clip + SGD), ${shape}, ${values.threads} threads, median of ${values.steps} after ${values.warmup} warm-up`);
    console.log(`${'model'.padEnd(18)}${'ours ms'.padStart(10)}${'torch ms'.padStart(10)}${'ours/torch'.padStart(12)}${'ours RSS'.padStart(11)}${'torch RSS'.padStart(11)}  first loss ours / torch`);
    const metrics: BenchMetric[] = [];
    const notes: string[] = [];
    for (const arch of values.arch!.split(',')) {
      const torch = JSON.parse(runChild(python, [join(here, 'train_step_ref.py'), dir, '--arch', arch, ...common])) as SideResult & { torch: string };
      const ours = JSON.parse(runChild(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', arch, '--dir', dir, ...common])) as SideResult;
      const name = `TSM-${arch === 'mobilenetv2' ? 'MobileNetV2' : arch.replace('resnet', 'ResNet-')}`;
      console.log(
        `${name.padEnd(18)}${ours.ms.toFixed(0).padStart(10)}${torch.ms.toFixed(0).padStart(10)}${(ours.ms / torch.ms).toFixed(2).padStart(11)}x` +
          `${`${ours.peak_rss_mb.toFixed(0)} MB`.padStart(11)}${`${torch.peak_rss_mb.toFixed(0)} MB`.padStart(11)}  ${ours.first_loss.toFixed(5)} / ${torch.first_loss.toFixed(5)}`,
      );
      metrics.push({ name: `${name} step (median)`, unit: 'ms', ours: ours.ms, pytorch: torch.ms, better: 'lower' });
      metrics.push({ name: `${name} peak RSS`, unit: 'MB', ours: ours.peak_rss_mb, pytorch: torch.peak_rss_mb, better: 'lower' });
      notes.push(`${name} first loss ours ${ours.first_loss.toFixed(5)} / PyTorch ${torch.first_loss.toFixed(5)} (PyTorch ${torch.torch})`);
    }
    printBenchResult({ bench: 'train-step', title: `TSM training step (forward + CE + backward + clip + SGD), ${shape}, ${values.threads} threads`, metrics, notes });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
