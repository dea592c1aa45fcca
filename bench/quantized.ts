/**
 * int8 and float16 against float32, in one run: the three precisions of each model are timed in alternating rounds,
 * so load on a shared machine falls on all of them alike.
 *
 * - Node clip model: TSM-ResNet-50 (the tsm_resnet50 fixture's weights), one 8x3x224x224 clip, onnxruntime-node.
 * - Node online step: online TSM-MobileNetV2 (the online fixture's weights), 224x224, shift buffers carried.
 * - Browser online step: the same three files in headless Chromium, onnxruntime-web wasm (SIMD, threads: the page
 *   is cross-origin isolated). WebGPU is timed only where the browser has an adapter (headless Chromium with
 *   --disable-gpu has none; the run says so).
 * - File sizes.
 *
 * int8 models are calibrated on synthetic clips (`tsm make-synthetic`): the weights are random, so speed does not
 * depend on which clips. Besides wall-clock medians, the Node parts report the process CPU time per run, which
 * other jobs on a shared machine disturb much less.
 *
 *   npx tsx bench/quantized.ts [--threads 2] [--clip-runs 10] [--steps 100] [--rounds 4] [--no-browser]
 */
import { createServer } from 'node:http';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { makeSyntheticDataset } from '../src/data/index.js';
import { buildClipExportGraph, buildOnlineExportGraph, quantizeExport, writeExport, type ExportGraph } from '../src/deploy/export.js';
import { loadTsnCheckpoint } from '../src/models/load.js';
import { loadOnlineMobileNetV2 } from '../src/models/online.js';
import { CHROMIUM, launchChromium } from '../web/chromium.js';
import { type BenchMetric, median, printBenchResult } from './result.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = resolve(here, '..', '..', 'shared', 'fixtures');
const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    'clip-runs': { type: 'string', default: '10' },
    steps: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '4' },
    'no-browser': { type: 'boolean', default: false },
  },
});
const THREADS = Number(values.threads);
const CLIP_RUNS = Number(values['clip-runs']);
const STEPS = Number(values.steps);
const ROUNDS = Number(values.rounds);
const PRECISIONS = ['float32', 'int8', 'float16'] as const;
type Precision = (typeof PRECISIONS)[number];

const dir = mkdtempSync(join(tmpdir(), 'tsm-bench-quantized-'));

/** Writes the float32 export and its int8 and float16 versions; returns the three paths. */
async function writeThree(name: string, exported: ExportGraph, calibration: string): Promise<Record<Precision, string>> {
  const out = { float32: join(dir, `${name}.onnx`), int8: join(dir, `${name}.int8.onnx`), float16: join(dir, `${name}.fp16.onnx`) };
  await writeExport(exported, out.float32);
  await writeExport(await quantizeExport(exported, { precision: 'int8', calibration, calibrationClips: 8, threads: THREADS }), out.int8);
  await writeExport(await quantizeExport(exported, { precision: 'float16' }), out.float16);
  return out;
}

/** A session and the feeds of one run; `step` runs once (carrying buffers for online models). */
interface Runner {
  step(): Promise<void>;
}

async function nodeRunner(file: string, feeds: Record<string, ort.Tensor>, carry: Readonly<Record<string, string>>): Promise<Runner> {
  const s = await ort.InferenceSession.create(file, { intraOpNumThreads: THREADS, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  let f = { ...feeds };
  return {
    async step() {
      const out = await s.run(f);
      for (const [i, o] of Object.entries(carry)) f[i] = out[o];
    },
  };
}

/** Alternating rounds of `perRound` runs of each precision; per-run wall ms and process CPU ms. */
async function timeRounds(runners: Record<Precision, Runner>, warmup: number, perRound: number): Promise<Record<Precision, { wall: number[]; cpu: number[] }>> {
  const res = Object.fromEntries(PRECISIONS.map((p) => [p, { wall: [] as number[], cpu: [] as number[] }])) as Record<Precision, { wall: number[]; cpu: number[] }>;
  for (const p of PRECISIONS) for (let i = 0; i < warmup; i++) await runners[p].step();
  for (let r = 0; r < ROUNDS; r++) {
    for (const p of PRECISIONS) {
      for (let i = 0; i < perRound; i++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await runners[p].step();
        res[p].wall.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        res[p].cpu.push((c.user + c.system) / 1000);
      }
    }
  }
  return res;
}

/** Serves onnxruntime-web, the models and a bench page, cross-origin isolated so wasm threads work. */
function serveBrowserBench(models: Record<Precision, string>): Promise<{ url: string; close: () => Promise<void> }> {
  const ortDist = resolve(here, '..', 'node_modules', 'onnxruntime-web', 'dist');
  const page = `<!doctype html><meta charset="utf-8"><title>tsm quantized bench</title><script type="module">
import * as ort from '/ort/ort.wasm.min.mjs';
ort.env.wasm.wasmPaths = '/ort/';
window.benchReady = true;
window.openModel = async (name, threads, inputs) => {
  ort.env.wasm.numThreads = threads;
  const bytes = new Uint8Array(await (await fetch('/models/' + name)).arrayBuffer());
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = {};
  for (const [k, shape] of Object.entries(inputs)) feeds[k] = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(k === 'frame' ? 0.3 : 0), shape);
  window.sessions = window.sessions || {};
  window.sessions[name] = { s, feeds };
  return ort.env.wasm.numThreads;
};
window.step = async (name, n) => {
  const m = window.sessions[name];
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const out = await m.s.run(m.feeds);
    for (const k of Object.keys(m.feeds)) if (k.startsWith('buffer_')) m.feeds[k] = out[k.replace('buffer_', 'buffer_out_')];
    times.push(performance.now() - t0);
  }
  return times;
};
window.webgpu = async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter().catch(() => null)));
</script>`;
  const files: Record<string, string> = Object.fromEntries(PRECISIONS.map((p) => [`/models/${p}.onnx`, models[p]]));
  const types: Record<string, string> = { '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    try {
      if (url === '/') return void res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(page);
      const file = files[url] ?? (url.startsWith('/ort/') && !url.includes('..') ? join(ortDist, url.slice(5)) : undefined);
      if (!file) return void res.writeHead(404, headers).end();
      res.writeHead(200, { ...headers, 'Content-Type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
    } catch {
      res.writeHead(404, headers).end();
    }
  });
  return new Promise((ok) => {
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address() as { port: number };
      ok({ url: `http://127.0.0.1:${addr.port}/`, close: () => new Promise<void>((done) => server.close(() => done())) });
    });
  });
}

const mb = (file: string) => statSync(file).size / 1e6;
const fmt = (x: number) => x.toFixed(2).padStart(8);

try {
  const load0 = loadavg()[0];
  const calibration = join(dir, 'synthetic');
  await makeSyntheticDataset(calibration, { clips: 1, size: 256, frames: 16, seed: 1, valFraction: 0 });

  // 1. the clip model
  const { model: r50 } = await loadTsnCheckpoint(join(fixtures, 'tsm_resnet50.pth'), { arch: 'resnet50', numSegments: 8, isShift: true, shiftDiv: 8, shiftPlace: 'blockres' });
  const clipFiles = await writeThree('tsm_resnet50_224', buildClipExportGraph(r50, { inputSize: 224 }), calibration);
  const clip = new Float32Array(24 * 224 * 224).map((_, i) => Math.sin(i * 0.37) * 1.5);
  const clipRunners = Object.fromEntries(
    await Promise.all(PRECISIONS.map(async (p) => [p, await nodeRunner(clipFiles[p], { input: new ort.Tensor('float32', clip, [1, 24, 224, 224]) }, {})] as const)),
  ) as Record<Precision, Runner>;
  const clipT = await timeRounds(clipRunners, 2, Math.max(1, Math.round(CLIP_RUNS / ROUNDS)));

  // 2. the online step, in Node
  const { model: online } = await loadOnlineMobileNetV2(join(fixtures, 'online_mobilenetv2_state_dict.pth'));
  const onlineExport = buildOnlineExportGraph(online, { inputSize: 224 });
  const onlineFiles = await writeThree('online_mobilenetv2_224', onlineExport, calibration);
  const inputs: Record<string, number[]> = { frame: [1, 3, 224, 224] };
  onlineExport.info.bufferInputs.forEach((n, i) => (inputs[n] = [...onlineExport.info.bufferShapes[i]]));
  const feedsOf = () => Object.fromEntries(Object.entries(inputs).map(([k, s]) => [k, new ort.Tensor('float32', new Float32Array(s.reduce((a, b) => a * b, 1)).fill(k === 'frame' ? 0.3 : 0), s)]));
  const carry = Object.fromEntries(onlineExport.info.bufferInputs.map((n, i) => [n, onlineExport.info.bufferOutputs[i]]));
  const stepRunners = Object.fromEntries(await Promise.all(PRECISIONS.map(async (p) => [p, await nodeRunner(onlineFiles[p], feedsOf(), carry)] as const))) as Record<Precision, Runner>;
  const stepT = await timeRounds(stepRunners, 10, Math.max(1, Math.round(STEPS / ROUNDS)));

  // 3. the online step in the browser
  let browser: Record<Precision, number[]> | undefined;
  let browserThreads = 0;
  let webgpu = false;
  let chromiumVersion = '';
  if (!values['no-browser']) {
    const server = await serveBrowserBench(onlineFiles);
    const chrome = await launchChromium();
    try {
      const page = await chrome.newPage();
      await page.goto(server.url);
      await page.waitForFunction('window.benchReady === true');
      for (const p of PRECISIONS) browserThreads = await page.evaluate(([n, t, i]) => (window as unknown as { openModel: (a: string, b: number, c: unknown) => Promise<number> }).openModel(n, t, i), [`${p}.onnx`, THREADS, inputs] as const);
      webgpu = await page.evaluate(() => (window as unknown as { webgpu: () => Promise<boolean> }).webgpu());
      const stepIn = (p: Precision, n: number) => page.evaluate(([name, k]) => (window as unknown as { step: (a: string, b: number) => Promise<number[]> }).step(name, k), [`${p}.onnx`, n] as const);
      browser = { float32: [], int8: [], float16: [] };
      for (const p of PRECISIONS) await stepIn(p, 10);
      for (let r = 0; r < ROUNDS; r++) for (const p of PRECISIONS) browser[p].push(...(await stepIn(p, Math.max(1, Math.round(STEPS / ROUNDS)))));
      chromiumVersion = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim();
    } finally {
      await chrome.close();
      await server.close();
    }
  }

  const metrics: BenchMetric[] = [];
  const add = (name: string, unit: string, v: number) => metrics.push({ name, unit, ours: v, pytorch: null, better: 'lower' });
  console.log(`int8 / float16 vs float32, ${THREADS} threads, ${cpus().length} cores, load average ${load0.toFixed(2)} at start (a shared machine: timings are noisy; CPU times less so)`);
  console.log('                                   float32     int8  float16   int8/fp32  fp16/fp32');
  const row = (label: string, unit: string, v: Record<Precision, number>) => {
    console.log(`  ${label.padEnd(32)}${fmt(v.float32)} ${fmt(v.int8)} ${fmt(v.float16)}   ${(v.int8 / v.float32).toFixed(2).padStart(8)}  ${(v.float16 / v.float32).toFixed(2).padStart(8)}   ${unit}`);
    for (const p of PRECISIONS) add(`${label} ${p}`, unit, v[p]);
    add(`${label} int8/float32`, 'x', v.int8 / v.float32);
  };
  const med = (t: Record<Precision, { wall: number[]; cpu: number[] }>, k: 'wall' | 'cpu') => Object.fromEntries(PRECISIONS.map((p) => [p, median(t[p][k])])) as Record<Precision, number>;
  row('Node clip R50 8x224 (median)', 'ms', med(clipT, 'wall'));
  row('Node clip R50 8x224 (CPU time)', 'ms', med(clipT, 'cpu'));
  row('Node online step 224 (median)', 'ms/frame', med(stepT, 'wall'));
  row('Node online step 224 (CPU time)', 'ms/frame', med(stepT, 'cpu'));
  if (browser) {
    const b = browser;
    row(`browser online step (wasm, ${browserThreads} thr)`, 'ms/frame', Object.fromEntries(PRECISIONS.map((p) => [p, median(b[p])])) as Record<Precision, number>);
  }
  row('size clip R50', 'MB', Object.fromEntries(PRECISIONS.map((p) => [p, mb(clipFiles[p])])) as Record<Precision, number>);
  row('size online MobileNetV2', 'MB', Object.fromEntries(PRECISIONS.map((p) => [p, mb(onlineFiles[p])])) as Record<Precision, number>);
  const browserInt8 = browser ? median(browser.int8) : NaN;
  const notes = [
    `load average ${load0.toFixed(2)} at start on ${cpus().length} cores; the three precisions alternate in ${ROUNDS} rounds`,
    browser ? `browser: ${chromiumVersion}, onnxruntime-web wasm, ${browserThreads} threads; int8 target <= 15 ms/frame: ${browserInt8 <= 15 ? 'met' : 'NOT met'} (${browserInt8.toFixed(1)})` : 'browser part skipped (--no-browser)',
    `Node target int8 <= 0.6x float32: clip ${(median(clipT.int8.wall) / median(clipT.float32.wall)).toFixed(2)}x, online step ${(median(stepT.int8.wall) / median(stepT.float32.wall)).toFixed(2)}x`,
    browser ? (webgpu ? 'a WebGPU adapter exists, but this bench times wasm only' : 'WebGPU: no adapter in this headless Chromium (--disable-gpu, no GPU): float16 on WebGPU not measured') : '',
  ].filter(Boolean);
  for (const n of notes) console.log(`  ${n}`);
  printBenchResult({ bench: 'quantized', title: `int8 / float16 vs float32 (TSM-ResNet-50 clip 8x224, online TSM-MobileNetV2 224), ${THREADS} threads`, metrics, notes });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
