/**
 * The browser demo: live action recognition from the webcam (or a video file) with an exported online TSM model,
 * one frame at a time, carrying the shift buffers between frames, as the original `online_demo/main.py`.
 * Query parameters: `model` (URL, default `/model.onnx`), `device` (auto | webgpu | wasm), `threads`,
 * `smoothing` (auto | jester | generic | none), `bench` (N: time N steps on a still frame instead of a video).
 */
import {
  GENERIC_SMOOTHING,
  JESTER_SMOOTHING,
  OutputSmoother,
  type SmoothedPrediction,
  type SmoothingRules,
  cropWindow,
  normalizeFrame,
  smoothingFor,
} from '../src/deploy/browser.js';
import { type LoadedModel, type ModelProgress, WEB_DEVICES, type WebDevice, loadOnlineModel } from './model.js';
import { nextFrame, startCamera, startFile } from './source.js';
import type { DemoState } from './state.js';

declare global {
  interface Window {
    tsmDemo: DemoState;
  }
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const state: DemoState = { status: 'loading', frames: 0, top: [], fps: 0, modelMs: 0, totalMs: 0 };
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

function showProgress(e: ModelProgress): void {
  const box = $('progress');
  box.hidden = e.status === 'done';
  if (e.status !== 'progress') return;
  const mb = (n: number) => (n / 1e6).toFixed(1);
  $('progress-bar').style.width = `${e.progress ?? 0}%`;
  $('progress-text').textContent = `model ${mb(e.loaded)}${e.total ? ` / ${mb(e.total)}` : ''} MB`;
}

function smoothingRules(labels: readonly string[]): SmoothingRules {
  const choice = params.get('smoothing') ?? 'auto';
  if (choice === 'jester') return JESTER_SMOOTHING;
  if (choice === 'generic') return GENERIC_SMOOTHING;
  if (choice === 'none') return { ...GENERIC_SMOOTHING, logitWindow: 1, refine: false };
  return smoothingFor(labels);
}

/** Draws the label, top-5 bars and timings. */
function render(p: SmoothedPrediction, labels: readonly string[]): void {
  state.label = labels[p.index];
  state.rawLabel = labels[p.rawIndex];
  state.top = p.top.map((t) => ({ label: labels[t.index], score: t.score }));
  $('label').textContent = state.label;
  const list = $('top5');
  list.replaceChildren(
    ...state.top.map((t) => {
      const li = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = t.label;
      const score = document.createElement('span');
      score.className = 'score';
      score.textContent = `${(t.score * 100).toFixed(1)}%`;
      const bar = document.createElement('div');
      bar.className = 'bar';
      const fill = document.createElement('div');
      fill.style.width = `${(t.score * 100).toFixed(1)}%`;
      bar.append(fill);
      li.append(name, score, bar);
      return li;
    }),
  );
  $('fps').textContent = state.fps.toFixed(1);
  $('model-ms').textContent = `${state.modelMs.toFixed(1)} ms`;
  $('total-ms').textContent = `${state.totalMs.toFixed(1)} ms`;
  $('frames').textContent = String(state.frames);
}

/** Crops, resizes and normalizes the current picture of `source` into `out` (the demo's get_transform()). */
function makePreprocessor(model: LoadedModel): (source: HTMLVideoElement | HTMLCanvasElement, out: Float32Array) => void {
  const [h, w] = model.info.inputSize;
  const canvas = $<HTMLCanvasElement>('crop');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
  ctx.imageSmoothingQuality = 'high';
  return (source, out) => {
    const [sw0, sh0] = source instanceof HTMLVideoElement ? [source.videoWidth, source.videoHeight] : [source.width, source.height];
    const { sx, sy, sw, sh } = cropWindow(sw0, sh0, model.info);
    ctx.drawImage(source, sx, sy, sw, sh, 0, 0, w, h);
    normalizeFrame(ctx.getImageData(0, 0, w, h).data, w, h, 4, model.info, out);
  };
}

/** Runs the model on every new video frame, one at a time (frames that arrive while it runs are skipped). */
async function runLive(model: LoadedModel, video: HTMLVideoElement): Promise<void> {
  const preprocess = makePreprocessor(model);
  const frame = new Float32Array(model.stepper.frameSize);
  const smoother = new OutputSmoother(smoothingRules(model.info.labels));
  const done: number[] = [];
  const ema = (old: number, x: number) => (old === 0 ? x : 0.9 * old + 0.1 * x);
  for (;;) {
    await nextFrame(video);
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || video.videoWidth === 0) continue;
    const t0 = performance.now();
    preprocess(video, frame);
    const t1 = performance.now();
    const logits = await model.stepper.step(frame);
    const t2 = performance.now();
    const p = smoother.push(logits);
    if (state.status !== 'running') {
      state.status = 'running';
      $('status').textContent = 'Running.';
    }
    state.frames += 1;
    state.modelMs = ema(state.modelMs, t2 - t1);
    state.totalMs = ema(state.totalMs, performance.now() - t0);
    done.push(t2);
    while (done.length > 0 && done[0] < t2 - 1000) done.shift();
    state.fps = done.length;
    render(p, model.info.labels);
  }
}

/** `?bench=N`: N model steps on a still frame after a warm-up; results in `window.tsmDemo.bench`. */
async function runBench(model: LoadedModel, steps: number): Promise<void> {
  const still = document.createElement('canvas');
  still.width = 320;
  still.height = 240;
  const g = still.getContext('2d') as CanvasRenderingContext2D;
  const grad = g.createLinearGradient(0, 0, 320, 240);
  grad.addColorStop(0, '#c33');
  grad.addColorStop(1, '#33c');
  g.fillStyle = grad;
  g.fillRect(0, 0, 320, 240);
  const preprocess = makePreprocessor(model);
  const frame = new Float32Array(model.stepper.frameSize);
  preprocess(still, frame);
  $('status').textContent = `Benchmark: warming up…`;
  for (let i = 0; i < 10; i++) await model.stepper.step(frame);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t = performance.now();
    await model.stepper.step(frame);
    times.push(performance.now() - t);
  }
  const t0 = performance.now();
  const pipelineSteps = Math.max(10, Math.floor(steps / 4));
  for (let i = 0; i < pipelineSteps; i++) {
    preprocess(still, frame);
    await model.stepper.step(frame);
  }
  const pipeline = (performance.now() - t0) / pipelineSteps;
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  state.bench = { steps, msPerFrame: times.reduce((a, b) => a + b, 0) / steps, p50: at(0.5), p90: at(0.9), pipelineMsPerFrame: pipeline };
  state.status = 'bench-done';
  $('status').textContent = `Benchmark: ${state.bench.msPerFrame.toFixed(2)} ms/frame (p50 ${state.bench.p50.toFixed(2)}, p90 ${state.bench.p90.toFixed(2)}) over ${steps} steps; with preprocessing ${pipeline.toFixed(2)} ms`;
}

async function main(): Promise<void> {
  const device = (params.get('device') ?? 'auto') as WebDevice;
  if (!(device in WEB_DEVICES)) {
    showError(`Unsupported device: ${device}. Must be one of [${Object.keys(WEB_DEVICES).join(', ')}]`);
    return;
  }
  let model: LoadedModel;
  try {
    model = await loadOnlineModel(modelUrl, { device, threads: Number(params.get('threads') ?? 0), onProgress: showProgress });
  } catch (err) {
    $('progress').hidden = true;
    $('backend').textContent = 'no model';
    showError(
      `The model failed to load from ${modelUrl}:\n${(err as Error).message}\n\nExport an online model with\n  tsm export --online --weights W.pth --out model.onnx\nand serve it with\n  npm run demo:web -- --model model.onnx`,
    );
    return;
  }
  state.backend = model.backend;
  state.threads = model.threads;
  $('backend').textContent = model.backend === 'wasm' ? `wasm · ${model.threads} thread${model.threads === 1 ? '' : 's'}` : 'WebGPU';
  const { info } = model;
  $('status').textContent = `Model: ${info.arch}, ${info.numClasses} classes, input ${info.inputSize.join('x')} (${(model.bytes / 1e6).toFixed(1)} MB).`;
  state.status = 'ready';

  const bench = Number(params.get('bench') ?? 0);
  if (bench > 0) {
    await runBench(model, bench);
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
      model.stepper.reset(); // a new video: zero the shift buffers
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
  await runLive(model, video);
}

main().catch((err: unknown) => showError(`Unexpected error: ${(err as Error).stack ?? String(err)}`));
