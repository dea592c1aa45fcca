/**
 * The browser demo: live action recognition from the webcam (or a video file) with an exported online TSM model,
 * one frame at a time, carrying the shift buffers between frames, as the original `online_demo/main.py`. It is a
 * plain consumer of the package's browser entry, `temporal-shift/web`.
 * Query parameters: `model` (URL, default `/model.onnx`), `device` (auto | webgpu | wasm), `threads`,
 * `smoothing` (auto | jester | generic | none), `bench` (N: time N steps on a still frame instead of a video).
 */
import {
  type FramePrediction,
  type ModelProgress,
  type OnlineRecognizer,
  SMOOTHING_MODES,
  type SmoothingMode,
  WEB_DEVICES,
  type WebDevice,
  onlineRecognizer,
} from 'temporal-shift/web';
import { startCamera, startFile } from './source.js';
import { type DemoState, LABEL_RUNS_KEPT } from './state.js';
import { renderTop5 } from './top5-list.js';

declare global {
  interface Window {
    tsmDemo: DemoState;
  }
}

/** Where the demo's server puts onnxruntime-web's wasm files (see demo-config.ts). */
const ORT_WASM_PATH = '/ort/';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const state: DemoState = { status: 'loading', frames: 0, top: [], labelRuns: [], fps: 0, modelMs: 0, totalMs: 0 };
window.tsmDemo = state;

const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? '/model.onnx';

function showError(message: string): void {
  state.status = 'error';
  state.error = message;
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  $('status').textContent = 'Stopped.';
}

let modelBytes = 0;
function showProgress(e: ModelProgress): void {
  const box = $('progress');
  box.hidden = e.status === 'done';
  if (e.status === 'done') modelBytes = e.loaded;
  if (e.status !== 'progress') return;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  $('progress-bar').style.width = `${e.progress ?? 0}%`;
  $('progress-text').textContent = `model ${mb(e.loaded)}${e.total ? ` / ${mb(e.total)}` : ''} MB`;
}

/** Draws the label, top-5 bars and timings. */
function render(): void {
  $('label').textContent = state.label ?? '—';
  renderTop5($('top5'), state.top);
  $('fps').textContent = state.fps.toFixed(1);
  $('model-ms').textContent = `${state.modelMs.toFixed(1)} ms`;
  $('total-ms').textContent = `${state.totalMs.toFixed(1)} ms`;
  $('frames').textContent = String(state.frames);
}

/** A callback for `attach` that keeps the page's state (FPS over the last second, smoothed timings) and draws it. */
function liveView(): (p: FramePrediction) => void {
  const done: number[] = [];
  const ema = (old: number, x: number) => (old === 0 ? x : 0.9 * old + 0.1 * x);
  return (p) => {
    const now = performance.now();
    if (state.status !== 'running') {
      state.status = 'running';
      $('status').textContent = 'Running.';
    }
    state.frames += 1;
    state.modelMs = ema(state.modelMs, p.modelMs);
    state.totalMs = ema(state.totalMs, p.latencyMs);
    done.push(now);
    while (done.length > 0 && done[0] < now - 1000) done.shift();
    state.fps = done.length;
    state.label = p.label;
    state.rawLabel = p.rawLabel;
    state.top = p.top.map((t) => ({ label: t.label, score: t.score }));
    if (state.labelRuns[state.labelRuns.length - 1]?.label !== p.label) {
      state.labelRuns = [...state.labelRuns, { label: p.label, frame: state.frames }].slice(-LABEL_RUNS_KEPT);
    }
    render();
  };
}

/** `?bench=N`: N model steps on a still frame after a warm-up; results in `window.tsmDemo.bench`. */
async function runBench(r: OnlineRecognizer, steps: number): Promise<void> {
  const still = document.createElement('canvas');
  still.width = 320;
  still.height = 240;
  const g = still.getContext('2d') as CanvasRenderingContext2D;
  const grad = g.createLinearGradient(0, 0, 320, 240);
  grad.addColorStop(0, '#c33');
  grad.addColorStop(1, '#33c');
  g.fillStyle = grad;
  g.fillRect(0, 0, 320, 240);
  $('status').textContent = `Benchmark: warming up…`;
  for (let i = 0; i < 10; i++) await r.step(still);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) times.push((await r.step(still)).modelMs);
  const t0 = performance.now();
  const pipelineSteps = Math.max(10, Math.floor(steps / 4));
  for (let i = 0; i < pipelineSteps; i++) await r.step(still);
  const pipeline = (performance.now() - t0) / pipelineSteps;
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  state.bench = { steps, msPerFrame: times.reduce((a, b) => a + b, 0) / steps, p50: at(0.5), p90: at(0.9), pipelineMsPerFrame: pipeline };
  state.status = 'bench-done';
  $('status').textContent = `Benchmark: ${state.bench.msPerFrame.toFixed(2)} ms/frame (p50 ${state.bench.p50.toFixed(2)}, p90 ${state.bench.p90.toFixed(2)}) over ${steps} steps; with preprocessing ${pipeline.toFixed(2)} ms`;
}

/** Checks a query parameter against a frozen table of names. */
function choice<T extends string>(name: string, table: Readonly<Record<T, T>>, fallback: T): T {
  const value = params.get(name) ?? fallback;
  if (!(value in table)) throw new Error(`Unsupported ${name}: ${value}. Must be one of [${Object.keys(table).join(', ')}]`);
  return value as T;
}

async function main(): Promise<void> {
  let device: WebDevice;
  let smoothing: SmoothingMode;
  try {
    device = choice('device', WEB_DEVICES, 'auto');
    smoothing = choice('smoothing', SMOOTHING_MODES, 'auto');
  } catch (err) {
    showError((err as Error).message);
    return;
  }
  let r: OnlineRecognizer;
  try {
    r = await onlineRecognizer(modelUrl, { device, smoothing, threads: Number(params.get('threads') ?? 0), wasmPaths: ORT_WASM_PATH, onProgress: showProgress });
  } catch (err) {
    $('progress').hidden = true;
    $('backend').textContent = 'no model';
    showError(
      `The model failed to load from ${modelUrl}:\n${(err as Error).message}\n\nExport an online model with\n  tsm export --online --weights W.pth --out model.onnx\nand serve it with\n  npm run demo:web -- --model model.onnx`,
    );
    return;
  }
  state.backend = r.backend;
  state.threads = r.threads;
  $('backend').textContent = r.backend === 'wasm' ? `wasm · ${r.threads} thread${r.threads === 1 ? '' : 's'}` : 'WebGPU';
  const { info } = r;
  $('status').textContent = `Model: ${info.arch}, ${info.numClasses} classes, input ${info.inputSize.join('x')} (${(modelBytes / 1e6).toFixed(1)} MB).`;
  state.status = 'ready';

  const bench = Number(params.get('bench') ?? 0);
  if (bench > 0) {
    await runBench(r, bench);
    return;
  }
  const video = $<HTMLVideoElement>('video');
  const picker = $('picker');
  $<HTMLInputElement>('file').addEventListener('change', async (e) => {
    const file = (e.target as HTMLInputElement).files?.[0];
    if (!file) return;
    try {
      await startFile(video, file);
      picker.hidden = true;
      state.source = 'file';
      $('source').textContent = `file: ${file.name}`;
      await r.reset(); // a new video: zero the shift buffers, forget the smoothing history
    } catch (err) {
      $('picker-reason').textContent = (err as Error).message;
    }
  });
  try {
    await startCamera(video);
    state.source = 'camera';
    $('source').textContent = 'camera';
  } catch (err) {
    state.status = 'no-source';
    $('picker-reason').textContent = `No camera available (${(err as Error).name}: ${(err as Error).message}). Choose a video file to run the demo on it.`;
    picker.hidden = false;
    $('status').textContent = 'Waiting for a video file.';
  }
  // one step per new video frame; frames that arrive while the model runs are skipped
  r.attach(video, liveView(), { onError: (err) => showError(`Recognition stopped: ${(err as Error).message}`) });
}

main().catch((err: unknown) => showError(`Unexpected error: ${(err as Error).stack ?? String(err)}`));
