/**
 * `npm run bench`: runs every benchmark in bench/ one after the other (each runs ours and PyTorch CPU in one run),
 * collects the JSON line each prints last (bench/result.ts), and writes bench/results/latest.md (and .json): the
 * machine, a table of ours vs PyTorch with ratios, and every metric where we are slower than PyTorch with what
 * limits it.
 *
 *   npx tsx bench/run-all.ts [--only clip-inference,train-step] [--out bench/results/latest.md] [--max-wait 600]
 *   npx tsx bench/run-all.ts --only train-step --merge   # rerun some benches, keep the others' earlier results
 *   npx tsx bench/run-all.ts --render-only     # rewrite latest.md from latest.json
 *
 * PyTorch runs twice where bench/setup.sh could install the official CPU wheel (bench/.venv-torch): Debian's build
 * and the wheel, each with its own columns; the machine table names both builds and the CPU's vector extensions.
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
import { type BenchMetric, type BenchResult, debianPython, wheelPython } from './result.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

/** Every bench, in the order they run; each prints a {@link BenchResult} line last. */
export const BENCHES = Object.freeze(['clip-inference', 'online-step', 'train-step', 'data-loader', 'online-browser', 'quantized', 'teach'] as const);
/** One of {@link BENCHES}. */
export type BenchName = (typeof BENCHES)[number];

/**
 * What limits us where we are behind, by `bench/metric` (then by bench). Each entry is what we found when we
 * measured it (the command is named), not a guess made at run time; a metric that is behind without an entry is
 * listed as "not analysed yet".
 */
const WHY_SLOWER: Readonly<Record<string, string>> = {
  'train-step/TSM-ResNet-50 step (median)':
    '`bench/train-step-profile.ts --arch resnet50` (onnxruntime profiler, 2026-12-04, quiet machine): ~0.65-0.69 s of kernel time per step, 68 % of it in convolutions and GEMMs: FusedConv 144 ms and Conv 137 ms (forward and stride-1 input gradients; weights fed as graph inputs cannot use onnxruntime\'s prepacked or blocked NCHWc kernels, which it keeps for constant weights), Gemm 80 ms (weight gradients), ConvTranspose 40 ms (stride-2 input gradients), FusedMatMul 39 ms; data movement of the backward graph (Slice, Pad, Transpose, Concat of the shift and im2col) ~95 ms. PyTorch runs oneDNN\'s direct forward and backward convolutions. Five quiet runs of this bench (docs/training.md) put the ResNet-50 step at 0.54-1.18x Debian\'s PyTorch (median 1.01) and 0.96-1.23x the official wheel (median 1.19): PyTorch\'s own time moves by up to 2x between runs. Tried and measured: channels-first im2col for large maps (kept), the 3x3 weight gradient as one Gemm per kernel tap (faster per layer in isolation, slower in the whole step: not kept), NCHWc convs with in-graph weight reordering (2x slower in layer 4: not kept), 1x1 convs as one Gemm over the batch (no measurable change), pre-allocated outputs (no change).',
  'train-step/peak RSS':
    'Measured (docs/training.md, "Memory of the training step"): onnxruntime\'s arena keeps its high-water mark (the activations the backward needs), weights and momentum live in flat arrays updated in place, and onnxruntime-node copies every output (the gradients: 98 MB for ResNet-50) into new ArrayBuffers that stay until V8\'s next major collection (with a forced gc() after each step ResNet-50 peaks at 1046 MB instead of 1110-1128 MB). PyTorch\'s own RSS moves by ~100 MB between runs.',
  'train-step/TSM-ResNet-50 step CPU time (median)': 'See the step (median) entry: the same kernels.',
  'train-step/step (median) [official wheel]':
    'The official wheel runs oneDNN 3 with AVX-512 kernels and MKL (Debian\'s build: oneDNN 2.6 with AVX2 kernels, no MKL), so its convolutions are faster still; our convolutions are onnxruntime\'s im2col + SGEMM with weights as graph inputs (no blocked NCHWc kernels for fed weights) and our backward graph moves more data (see the step entry above).',
  'train-step/step CPU time (median) [official wheel]': 'See the step (median) [official wheel] entry.',
  "clip-inference/clip latency (median), vs PyTorch's ONNX export":
    'Both graphs run on the same onnxruntime with the same kernels (constant weights: NCHWc convolutions). By turns in one process, CPU time, 7 rounds after a warm-up (2026-12-04, busy machine): 1 thread ours 459 ms vs the export\'s 476 ms (median; per-round ratio 0.71-1.23), 2 threads 769 vs 838 ms (0.75-1.00): no gap beyond the noise. A run where ours is behind is most likely the load moving between the two.',
  'clip-inference/clip latency (median) [official wheel]':
    'The official wheel runs oneDNN 3 with AVX-512 kernels and MKL; onnxruntime runs the same graph on its MLAS kernels (NCHWc blocked convolutions, constant weights here).',
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
  /** Keep the benches not run now from the existing report's .json, marked with the date they ran. @default false */
  readonly merge?: boolean;
}

/** A bench that ran, with the load average it started at, or failed. */
interface BenchRun {
  readonly name: BenchName;
  /** When it ran (ISO, seconds); absent in results written before this field existed. */
  readonly date?: string;
  readonly loadAtStart: number;
  readonly seconds: number;
  readonly result?: BenchResult;
  readonly error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The 1-minute load average below which the machine counts as quiet. */
const QUIET_LOAD = 1.5;

/** Waits until the 1-minute load average is below {@link QUIET_LOAD} (or `maxWaitS` passes); returns the load at the end. */
async function waitQuiet(maxWaitS: number): Promise<number> {
  const until = Date.now() + maxWaitS * 1000;
  let announced = false;
  while (loadavg()[0] >= QUIET_LOAD && Date.now() < until) {
    if (!announced) process.stderr.write(`[bench] load average ${loadavg()[0].toFixed(2)} >= ${QUIET_LOAD}: waiting for a quiet machine (up to ${maxWaitS} s)\n`);
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
  // torch_compat: version and kernels of a PyTorch build (and it imports torchvision where only its CUDA build exists)
  const describeTorch = (python: string) => `${versionOf(python, ['-c', `import sys; sys.path.insert(0, ${JSON.stringify(here)}); import torch_compat; print(torch_compat.describe_torch())`])} (${python})`;
  const wheel = wheelPython();
  return {
    CPU: `${model} (${simd || 'no AVX2'})`,
    'cores (logical)': String(cpus().length),
    memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    Node: process.version,
    'onnxruntime-node': pkg('onnxruntime-node'),
    'onnxruntime-web': pkg('onnxruntime-web'),
    'PyTorch (Debian)': describeTorch(debianPython()),
    'PyTorch (official CPU wheel)': wheel ? describeTorch(wheel) : 'not installed (bench/setup.sh could not install it): Debian\'s PyTorch only',
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

/** `ours / ref` and the verdict, or dashes where the reference did not run. */
function against(m: BenchMetric, ref: number | null | undefined): { ratio: string; v?: ReturnType<typeof verdict> } {
  if (ref === null || ref === undefined) return { ratio: '—' };
  return { ratio: (m.ours / ref).toFixed(2), v: verdict({ ...m, pytorch: ref }) };
}

/**
 * The Markdown report.
 * @param thisRun when given, only these benches ran now (`--merge`); the others' rows are marked with their date
 */
export function formatReport(machine: Readonly<Record<string, string>>, runs: readonly BenchRun[], thisRun?: ReadonlySet<BenchName>): string {
  const lines: string[] = [];
  const merged = thisRun !== undefined && runs.some((r) => !thisRun.has(r.name));
  const runLabel = (r: BenchRun) => (thisRun === undefined || thisRun.has(r.name) ? 'this run' : (r.date ?? 'earlier'));
  lines.push('# Benchmarks: temporal-shift (onnxruntime) vs PyTorch (CPU)', '');
  lines.push('Written by `npm run bench` (bench/run-all.ts). Every bench runs ours and PyTorch in the same run, with the same thread count, weights and inputs; see each `bench/*.ts` header for what is timed. PyTorch runs as Debian\'s build and, where bench/setup.sh could install it, as the official CPU wheel (what `pip install torch` gives most users).', '');
  if (merged) {
    const now = runs.filter((r) => thisRun.has(r.name)).map((r) => r.name);
    lines.push(`Only ${now.join(', ')} ran in this run (${machine.date}); the rows of the other benches are from the earlier run named in their "run" column, on the same kind of machine.`, '');
  }
  lines.push('## Machine', '', '| | |', '|---|---|');
  for (const [k, v] of Object.entries(machine)) lines.push(`| ${k} | ${v} |`);
  lines.push('', '## Results', '');
  lines.push('"ours / X" is the plain ratio of the two numbers; the verdict says which side is ahead in the metric\'s direction (lower ms and MB, higher clips/s). Where a metric names a reference, the PyTorch column holds that reference instead of PyTorch eager.', '');
  const busy = runs.filter((r) => r.loadAtStart >= QUIET_LOAD);
  if (busy.length > 0) {
    lines.push(
      `**Busy machine:** ${busy.map((r) => `${r.name} (${runLabel(r)})`).join(', ')} started at a load average of ${QUIET_LOAD} or more (see Notes). Their times are disturbed, PyTorch's most of all (its OpenMP threads wait for each other when other jobs hold the cores, which also inflates its CPU time), so their time ratios say little about a quiet machine; peak RSS is not affected.`,
      '',
    );
  }
  lines.push('| bench | setting | metric | ours | PyTorch (Debian) | ours / Debian | PyTorch (official wheel) | ours / wheel | | run |', '|---|---|---|---:|---:|---:|---:|---:|---|---|');
  const slower: string[] = [];
  for (const r of runs) {
    if (!r.result) {
      lines.push(`| ${r.name} | failed: ${r.error ?? ''} | | | | | | | | ${runLabel(r)} |`);
      continue;
    }
    for (const m of r.result.metrics) {
      const deb = against(m, m.pytorch);
      const whl = against(m, m.pytorchWheel);
      const verdicts = [deb.v && `${deb.v.text}${whl.v ? ' than Debian\'s' : ''}`, whl.v && `${whl.v.text} than the wheel`].filter(Boolean).join('; ');
      const name = m.reference ? `${m.name} (PyTorch column: ${m.reference})` : m.name;
      const cell = (x: number | null | undefined) => (x === null || x === undefined ? '—' : `${fmt(x)} ${m.unit}`);
      lines.push(`| ${r.name} | ${r.result.title} | ${name} | ${fmt(m.ours)} ${m.unit} | ${cell(m.pytorch)} | ${deb.ratio} | ${cell(m.pytorchWheel)} | ${whl.ratio} | ${verdicts} | ${runLabel(r)} |`);
      const why = (suffix: string) =>
        WHY_SLOWER[`${r.name}/${m.name}${suffix}`] ?? WHY_SLOWER[`${r.name}/${m.name.replace(/^TSM-\S+ /, '')}${suffix}`] ?? (suffix ? undefined : WHY_SLOWER[r.name]) ?? 'Not analysed yet.';
      if (deb.v?.slower) slower.push(`- **${r.name}: ${name}** — ${fmt(m.ours)} vs ${fmt(m.pytorch as number)} ${m.unit} (${deb.v.text}${m.reference ? '' : ' than Debian\'s PyTorch'}). ${why('')}`);
      if (whl.v?.slower) slower.push(`- **${r.name}: ${name}, official wheel** — ${fmt(m.ours)} vs ${fmt(m.pytorchWheel as number)} ${m.unit} (${whl.v.text}). ${why(' [official wheel]')}`);
    }
  }
  lines.push('', '## Where we are behind PyTorch (slower or larger)', '');
  lines.push(...(slower.length > 0 ? slower : ['None in this run.']));
  lines.push('', '## Notes', '');
  for (const r of runs) {
    const notes = [`${runLabel(r) === 'this run' ? '' : `run ${runLabel(r)}, `}started at load average ${r.loadAtStart.toFixed(2)}, took ${r.seconds.toFixed(0)} s`, ...(r.result?.notes ?? [])];
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
  let runs: BenchRun[] = [];
  const machine = describeMachine();
  for (const name of names) {
    const loadAtStart = await waitQuiet(opts.maxWaitS ?? 600);
    process.stdout.write(`\n=== bench/${name}.ts (load ${loadAtStart.toFixed(2)}) ===\n`);
    const t0 = performance.now();
    const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    const r = await runBench(name);
    runs.push({ name, date, loadAtStart, seconds: (performance.now() - t0) / 1000, ...r });
  }
  let thisRun: Set<BenchName> | undefined;
  if (opts.merge) {
    // the other benches' results of the previous report, in BENCHES order, each with the date it ran
    const before = JSON.parse(readFileSync(out.replace(/\.md$/, '.json'), 'utf8')) as { machine: Record<string, string>; runs: BenchRun[]; thisRun?: BenchName[] };
    thisRun = new Set(names);
    const kept = before.runs.filter((r) => !thisRun?.has(r.name)).map((r) => ({ ...r, date: r.date ?? before.machine.date }));
    runs = BENCHES.flatMap((n) => [...runs, ...kept].filter((r) => r.name === n));
  }
  mkdirSync(dirname(out), { recursive: true });
  const write = (path: string, text: string) => {
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
  };
  write(out, formatReport(machine, runs, thisRun));
  write(out.replace(/\.md$/, '.json'), `${JSON.stringify({ machine, runs, ...(thisRun ? { thisRun: [...thisRun] } : {}) }, null, 1)}\n`);
  process.stdout.write(`\nwrote ${relative(process.cwd(), out)}\n`);
  return runs;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, out: { type: 'string' }, 'max-wait': { type: 'string', default: '600' }, 'render-only': { type: 'boolean', default: false }, merge: { type: 'boolean', default: false } },
  });
  if (values['render-only']) {
    // rewrite the Markdown from the JSON of the last run (after editing WHY_SLOWER, say)
    const out = values.out ?? join(here, 'results', 'latest.md');
    const { machine, runs, thisRun } = JSON.parse(readFileSync(out.replace(/\.md$/, '.json'), 'utf8')) as { machine: Record<string, string>; runs: BenchRun[]; thisRun?: BenchName[] };
    writeFileSync(out, formatReport(machine, runs, thisRun ? new Set(thisRun) : undefined));
    process.exit(0);
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !(BENCHES as readonly string[]).includes(n)) ?? [];
  if (unknown.length > 0) {
    process.stderr.write(`error TSM_USAGE: unknown bench ${unknown.join(', ')}. Must be one of [${BENCHES.join(', ')}]\n`);
    process.exit(2);
  }
  const runs = await runAll({ only: only as BenchName[] | undefined, out: values.out, maxWaitS: Number(values['max-wait']), merge: values.merge });
  process.exitCode = runs.some((r) => r.error) ? 1 : 0;
}
