/**
 * One TSM training step (forward, cross-entropy, backward, clip_grad_norm_(20), SGD with TSM's groups and partial
 * BN) of TSM-MobileNetV2 and TSM-ResNet-50, ours (onnxruntime-node graph + host SGD) vs PyTorch CPU
 * (bench/train_step_ref.py, the same weights and batch), same thread count, in one run: Debian's PyTorch, and the
 * official CPU wheel where bench/setup.sh installed it (bench/.venv-torch). Each side of each model runs in its own
 * process, so the peak RSS figures are per model; each also reports its RSS after steps 1, 2, 3 and the last, and
 * its median CPU time per step (all threads; steadier than wall time on a busy machine).
 *
 * usage: node --import tsx bench/train-step.ts [--size 112] [--segments 8] [--batch 2] [--threads 2] [--steps 9]
 *        [--warmup 2] [--arch mobilenetv2,resnet50] [--update host|graph] [--mem-pattern on|off]
 * Needs Debian's /usr/bin/python3 with torch (or $TSM_PYTHON). Prints median ms/step, the ratios and peak RSS.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { readNpy } from '../src/checkpoint/npy.js';
import { loadTsn } from '../src/models/load.js';
import type { Module } from '../src/nn/index.js';
import { SGD, TrainStep, adjustLearningRate, getOptimPolicies, setTrainMode } from '../src/train/index.js';
import { type BenchMetric, debianPython, median, printBenchResult, wheelPython } from './result.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '112' },
    segments: { type: 'string', default: '8' },
    batch: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '9' },
    warmup: { type: 'string', default: '2' },
    arch: { type: 'string', default: 'mobilenetv2,resnet50' },
    update: { type: 'string' },
    'mem-pattern': { type: 'string' },
    child: { type: 'string' },
    dir: { type: 'string' },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);

interface SideResult {
  readonly ms: number;
  readonly ms_min: number;
  /** Median CPU time per step, all threads. */
  readonly cpu_ms: number;
  readonly first_loss: number;
  readonly peak_rss_mb: number;
  /** RSS after each step (warm-up included). */
  readonly rss_steps_mb: readonly number[];
  /** PyTorch's version and kernels (PyTorch sides only). */
  readonly torch?: string;
}

/** Current and peak resident set size in MB. */
function rssMb(): { rss: number; peak: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
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
  const update = values.update as 'host' | 'graph' | undefined;
  const memPattern = values['mem-pattern'];
  const sessionOptions = memPattern === undefined ? undefined : { enableMemPattern: memPattern === 'on' };
  const step = await TrainStep.create(model, sgd, { inputShape: input.shape, clipGradNorm: 20, threads: num('threads'), update, sessionOptions });
  const times: number[] = [];
  const cpu: number[] = [];
  const rss: number[] = [];
  let firstLoss = NaN;
  for (let i = 0; i < num('warmup') + num('steps'); i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const r = await step.run(input, labels);
    const dt = performance.now() - t0;
    const dc = process.cpuUsage(c0);
    rss.push(rssMb().rss);
    if (i === 0) firstLoss = r.loss;
    if (i >= num('warmup')) {
      times.push(dt);
      cpu.push((dc.user + dc.system) / 1000);
    }
  }
  await step.release();
  const peak = Math.max(rssMb().peak, process.resourceUsage().maxRSS / 1024);
  return { ms: median(times), ms_min: Math.min(...times), cpu_ms: median(cpu), first_loss: firstLoss, peak_rss_mb: peak, rss_steps_mb: rss };
}

/** `RSS after steps 1/2/3/last: a/b/c/d MB`. */
const rssSteps = (r: SideResult): string => {
  const s = r.rss_steps_mb;
  return [s[0], s[1], s[2], s[s.length - 1]].map((v) => (v === undefined ? '?' : v.toFixed(0))).join('/');
};

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
  const python = debianPython();
  const wheel = wheelPython();
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'tsm-train-bench-'));
  const ourFlags = [...(values.update ? ['--update', values.update] : []), ...(values['mem-pattern'] ? ['--mem-pattern', values['mem-pattern']] : [])];
  const common = ['--size', values.size!, '--segments', values.segments!, '--batch', values.batch!, '--threads', values.threads!, '--steps', values.steps!, '--warmup', values.warmup!];
  try {
    const shape = `${values.segments}x${values.size}x${values.size}, batch ${values.batch}`;
    const title = `TSM training step (forward + CE + backward + clip + SGD), ${shape}, ${values.threads} threads`;
    console.log(`${title}, median of ${values.steps} after ${values.warmup} warm-up`);
    const metrics: BenchMetric[] = [];
    const notes: string[] = [];
    if (!wheel) notes.push('official PyTorch CPU wheel not installed (bench/setup.sh): Debian\'s PyTorch only');
    for (const arch of values.arch!.split(',')) {
      const torch = JSON.parse(runChild(python, [join(here, 'train_step_ref.py'), dir, '--arch', arch, ...common])) as SideResult;
      const torchWheel = wheel ? (JSON.parse(runChild(wheel, [join(here, 'train_step_ref.py'), dir, '--arch', arch, '--load', ...common])) as SideResult) : undefined;
      const ours = JSON.parse(runChild(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', arch, '--dir', dir, ...ourFlags, ...common])) as SideResult;
      const name = `TSM-${arch === 'mobilenetv2' ? 'MobileNetV2' : arch.replace('resnet', 'ResNet-')}`;
      const sides: [string, SideResult | undefined][] = [
        ['ours', ours],
        ['PyTorch (Debian)', torch],
        ['PyTorch (official wheel)', torchWheel],
      ];
      console.log(`${name}:`);
      for (const [who, r] of sides) {
        if (!r) continue;
        const ratio = r === ours ? '' : `  ours/this: time ${(ours.ms / r.ms).toFixed(2)}x, CPU ${(ours.cpu_ms / r.cpu_ms).toFixed(2)}x, peak RSS ${(ours.peak_rss_mb / r.peak_rss_mb).toFixed(2)}x`;
        console.log(
          `  ${who.padEnd(25)} ${r.ms.toFixed(0).padStart(6)} ms (min ${r.ms_min.toFixed(0)}), CPU ${r.cpu_ms.toFixed(0).padStart(6)} ms, peak RSS ${r.peak_rss_mb.toFixed(0)} MB, ` +
            `RSS after steps 1/2/3/last ${rssSteps(r)} MB, first loss ${r.first_loss.toFixed(5)}${ratio}`,
        );
      }
      metrics.push({ name: `${name} step (median)`, unit: 'ms', ours: ours.ms, pytorch: torch.ms, pytorchWheel: torchWheel?.ms, better: 'lower' });
      metrics.push({ name: `${name} step CPU time (median)`, unit: 'ms', ours: ours.cpu_ms, pytorch: torch.cpu_ms, pytorchWheel: torchWheel?.cpu_ms, better: 'lower' });
      metrics.push({ name: `${name} peak RSS`, unit: 'MB', ours: ours.peak_rss_mb, pytorch: torch.peak_rss_mb, pytorchWheel: torchWheel?.peak_rss_mb, better: 'lower' });
      notes.push(
        `${name} RSS after steps 1/2/3/last (MB): ours ${rssSteps(ours)}, Debian's PyTorch ${rssSteps(torch)}${torchWheel ? `, official wheel ${rssSteps(torchWheel)}` : ''}`,
        `${name} first loss ours ${ours.first_loss.toFixed(5)} / Debian's PyTorch ${torch.first_loss.toFixed(5)}${torchWheel ? ` / official wheel ${torchWheel.first_loss.toFixed(5)}` : ''}`,
      );
      if (arch === values.arch!.split(',')[0]) notes.push(`Debian's PyTorch: ${torch.torch}${torchWheel ? `; official wheel: ${torchWheel.torch}` : ''}`);
    }
    printBenchResult({ bench: 'train-step', title, metrics, notes });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
