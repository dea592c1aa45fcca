/**
 * `npm run bench`: runs every benchmark in bench/ one after the other (each runs ours and PyTorch CPU in one run),
 * collects the JSON line each prints last (bench/result.ts), and writes bench/results/latest.md (and .json): the
 * machine, a table of ours vs PyTorch with ratios, and every metric where we are slower than PyTorch with what
 * limits it.
 *
 *   npx tsx bench/run-all.ts [--only clip-inference,train-step] [--out bench/results/latest.md] [--max-wait 600]
 *   npx tsx bench/run-all.ts --render-only     # rewrite latest.md from latest.json
 *
 * The machine should be quiet: before each bench it waits (up to --max-wait seconds) for the 1-minute load
 * average to drop below 1.5 and records the load it started at. Node only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchMetric, BenchResult } from './result.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/** Every bench, in the order they run; each prints a {@link BenchResult} line last. */
export const BENCHES = Object.freeze(['clip-inference', 'online-step', 'train-step', 'data-loader', 'online-browser', 'quantized'] as const);
/** One of {@link BENCHES}. */
export type BenchName = (typeof BENCHES)[number];

/**
 * What limits us where we are behind, by `bench/metric` (then by bench). Each entry is what we found when we
 * measured it (the command is named), not a guess made at run time; a metric that is behind without an entry is
 * listed as "not analysed yet".
 */
const WHY_SLOWER: Readonly<Record<string, string>> = {
  'train-step/TSM-ResNet-50 step (median)':
    '`bench/train-step-profile.ts --arch resnet50` (onnxruntime profiler, 2026-11-25): ~0.97 s of kernel time per step. Convolutions are most of it: Conv/FusedConv 414 ms (forward and stride-1 input gradients as im2col + SGEMM: weights fed as graph inputs cannot use onnxruntime\'s blocked NCHWc kernels, which it keeps for constant weights), Gemm 151 ms (3x3 weight gradients over unfolded inputs), ConvTranspose 48 ms (stride-2 input gradients), where PyTorch runs oneDNN\'s direct forward and backward convolutions. Data movement our backward graph needs (Slice/Concat/Pad of the shift and of im2col, Transposes of weight gradients) is ~140 ms, and elementwise BatchNorm/ReLU backward and SGD arithmetic, one memory pass per op without fusion on CPU, ~100 ms. Tried and measured: channels-first im2col for large maps (kept: -21 ms), NCHWc convs with in-graph weight reordering (-15% per 3x3 conv in layers 1-3 but 2x slower in layer 4, ~3% of the step: not kept), pre-allocated outputs (no change), the max-pool gradient as MaxUnpool per window parity (slower than ScatterElements). The ratio also moves a lot between runs on this shared machine (1.20x and 1.66x within ten minutes).',
  'train-step/peak RSS':
    'The step is one onnxruntime session with forward and backward in one graph: its memory planner keeps every activation the backward needs alive in the arena, and the SGD update is a graph output, so the old and the new weights and momentum buffers exist side by side where PyTorch updates in place (for ResNet-50, 24.5 M weights and as many momentum values at 4 bytes each: ~200 MB held twice); the arena also keeps its high-water mark. Estimated from the graph, not profiled.',
  'data-loader':
    'Per 340x256 frame in a worker (measured with --cpu-prof, 2026-11-25): JPEG decode ~0.4 ms (libjpeg-turbo), crop + resize ~0.35 ms and normalisation ~0.1 ms (WebAssembly SIMD), plus the page faults of each new batch buffer (38 MB per batch of 8). On a quiet machine ours runs at 1.35-1.55x PyTorch; a run behind it is most likely a busy machine: check the load average in the notes.',
};

/** Options of {@link runAll}. */
export interface RunAllOptions {
  /** Benches to run. @default every bench */
  readonly only?: readonly BenchName[];
  /** Markdown output; a `.json` with the raw results goes beside it. @default bench/results/latest.md */
  readonly out?: string;
  /** Seconds to wait for a quiet machine before each bench. @default 600 */
  readonly maxWaitS?: number;
}

/** A bench that ran, with the load average it started at, or failed. */
interface BenchRun {
  readonly name: BenchName;
  readonly loadAtStart: number;
  readonly seconds: number;
  readonly result?: BenchResult;
  readonly error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until the 1-minute load average is below 1.5 (or `maxWaitS` passes); returns the load at the end. */
async function waitQuiet(maxWaitS: number): Promise<number> {
  const until = Date.now() + maxWaitS * 1000;
  let announced = false;
  while (loadavg()[0] >= 1.5 && Date.now() < until) {
    if (!announced) process.stderr.write(`[bench] load average ${loadavg()[0].toFixed(2)} >= 1.5: waiting for a quiet machine (up to ${maxWaitS} s)\n`);
    announced = true;
    await sleep(10_000);
  }
  return loadavg()[0];
}

/** Runs one bench as `node --import tsx bench/<name>.ts`, echoing its output, and parses its last line. */
function runBench(name: BenchName): Promise<{ result?: BenchResult; error?: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      process.stderr.write(d);
    });
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const result = JSON.parse(last) as BenchResult;
        if (code === 0 && result.bench === name) return resolve({ result });
      } catch {
        // reported below
      }
      resolve({ error: `exit code ${code}; ${err.trim().split('\n').slice(-3).join(' / ') || 'no JSON result line'}` });
    });
  });
}

/** A command's first output line, or `unknown`. */
function versionOf(cmd: string, args: readonly string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  } catch {
    return 'unknown';
  }
}

/** The machine and software the numbers come from. */
export function describeMachine(): Record<string, string> {
  const cpuinfo = (() => {
    try {
      return readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const flags = /^flags\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].split(' ') ?? [];
  const simd = ['avx2', 'avx512f', 'avx512_vnni', 'fma'].filter((f) => flags.includes(f)).join(', ');
  const pkg = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      return 'not installed';
    }
  };
  const python = process.env.TSM_PYTHON ?? '/usr/bin/python3';
  return {
    CPU: `${model} (${simd || 'no AVX2'})`,
    'cores (logical)': String(cpus().length),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    Node: process.version,
    'onnxruntime-node': pkg('onnxruntime-node'),
    'onnxruntime-web': pkg('onnxruntime-web'),
    PyTorch: `${versionOf(python, ['-c', 'import torch; print(torch.__version__)'])} (${python})`,
    Chromium: versionOf('chromium', ['--version']),
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}

const fmt = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

/** `1.35x faster` / `2.10x slower` (`smaller` / `larger` for MB): ours against PyTorch in the metric's direction. */
function verdict(m: BenchMetric): { text: string; slower: boolean; factor: number } | undefined {
  if (m.pytorch === null || !(m.pytorch > 0) || !(m.ours > 0)) return undefined;
  const factor = m.better === 'lower' ? m.pytorch / m.ours : m.ours / m.pytorch;
  const [ahead, behind] = m.unit === 'MB' ? ['smaller', 'larger'] : ['faster', 'slower'];
  return factor >= 1 ? { text: `${factor.toFixed(2)}x ${ahead}`, slower: false, factor } : { text: `${(1 / factor).toFixed(2)}x ${behind}`, slower: true, factor };
}

/** The Markdown report. */
export function formatReport(machine: Readonly<Record<string, string>>, runs: readonly BenchRun[]): string {
  const lines: string[] = [];
  lines.push('# Benchmarks: temporal-shift (onnxruntime) vs PyTorch (CPU)', '');
  lines.push('Written by `npm run bench` (bench/run-all.ts). Every bench runs ours and PyTorch in the same run, with the same thread count, weights and inputs; see each `bench/*.ts` header for what is timed.', '');
  lines.push('## Machine', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(machine)) lines.push(`| ${k} | ${v} |`);
  lines.push('', '## Results', '');
  lines.push('"ours / PyTorch" is the plain ratio of the two numbers; the last column says which side is ahead in the metric\'s direction (lower ms, higher clips/s).', '');
  lines.push('| bench | setting | metric | ours | PyTorch | ours / PyTorch | |', '|---|---|---|---:|---:|---:|---|');
  const slower: string[] = [];
  for (const r of runs) {
    if (!r.result) {
      lines.push(`| ${r.name} | failed: ${r.error ?? ''} | | | | | |`);
      continue;
    }
    for (const m of r.result.metrics) {
      const v = verdict(m);
      const ratio = m.pytorch === null ? '—' : `${(m.ours / m.pytorch).toFixed(2)}`;
      lines.push(`| ${r.name} | ${r.result.title} | ${m.name} | ${fmt(m.ours)} ${m.unit} | ${m.pytorch === null ? '—' : `${fmt(m.pytorch)} ${m.unit}`} | ${ratio} | ${v?.text ?? ''} |`);
      if (v?.slower) {
        const why = WHY_SLOWER[`${r.name}/${m.name}`] ?? WHY_SLOWER[`${r.name}/${m.name.replace(/^TSM-\S+ /, '')}`] ?? WHY_SLOWER[r.name] ?? 'Not analysed yet.';
        slower.push(`- **${r.name}: ${m.name}** — ${fmt(m.ours)} vs ${fmt(m.pytorch as number)} ${m.unit} (${v.text}). ${why}`);
      }
    }
  }
  lines.push('', '## Where we are behind PyTorch (slower or larger)', '');
  lines.push(...(slower.length > 0 ? slower : ['None in this run.']));
  lines.push('', '## Notes', '');
  for (const r of runs) {
    const notes = [`started at load average ${r.loadAtStart.toFixed(2)}, took ${r.seconds.toFixed(0)} s`, ...(r.result?.notes ?? [])];
    lines.push(`- ${r.name}: ${notes.join('; ')}`);
  }
  lines.push('');
  return lines.join('\n');
}

/**
 * Runs the benches and writes the report.
 * @returns the runs, in order
 * @example await runAll({ only: ['clip-inference'] });
 */
export async function runAll(opts: RunAllOptions = {}): Promise<readonly BenchRun[]> {
  const names = opts.only ?? BENCHES;
  const out = opts.out ?? join(here, 'results', 'latest.md');
  const runs: BenchRun[] = [];
  const machine = describeMachine();
  for (const name of names) {
    const loadAtStart = await waitQuiet(opts.maxWaitS ?? 600);
    process.stdout.write(`\n=== bench/${name}.ts (load ${loadAtStart.toFixed(2)}) ===\n`);
    const t0 = performance.now();
    const r = await runBench(name);
    runs.push({ name, loadAtStart, seconds: (performance.now() - t0) / 1000, ...r });
  }
  mkdirSync(dirname(out), { recursive: true });
  const write = (path: string, text: string) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  };
  write(out, formatReport(machine, runs));
  write(out.replace(/\.md$/, '.json'), `${JSON.stringify({ machine, runs }, null, 1)}\n`);
  process.stdout.write(`\nwrote ${relative(process.cwd(), out)}\n`);
  return runs;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { only: { type: 'string' }, out: { type: 'string' }, 'max-wait': { type: 'string', default: '600' }, 'render-only': { type: 'boolean', default: false } } });
  if (values['render-only']) {
    // rewrite the Markdown from the JSON of the last run (after editing WHY_SLOWER, say)
    const out = values.out ?? join(here, 'results', 'latest.md');
    const { machine, runs } = JSON.parse(readFileSync(out.replace(/\.md$/, '.json'), 'utf8')) as { machine: Record<string, string>; runs: BenchRun[] };
    writeFileSync(out, formatReport(machine, runs));
    process.exit(0);
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !(BENCHES as readonly string[]).includes(n)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`error TSM_USAGE: unknown bench ${unknown.join(', ')}. Must be one of [${BENCHES.join(', ')}]\n`);
    process.exit(2);
  }
  const runs = await runAll({ only: only as BenchName[] | undefined, out: values.out, maxWaitS: Number(values['max-wait']) });
  process.exitCode = runs.some((r) => r.error) ? 1 : 0;
}
