/**
 * Loads an exported online model in the browser with onnxruntime-web: fetches it with progress events, reads its
 * metadata (labels, preprocessing, buffer shapes), and opens a session on WebGPU when the browser has a GPU
 * adapter, else on wasm (SIMD, with threads when the page is cross-origin isolated). Browser only.
 */
import * as ort from 'onnxruntime-web';
import { type DeployInfo, OnlineStepper, parseDeployMetadata, readOnnxMetadata } from '../src/deploy/browser.js';

/** Where the wasm binaries are served (copied from node_modules/onnxruntime-web/dist; see demo-config.ts). */
export const ORT_WASM_PATH = '/ort/';

/** Backends the demo can ask for; `auto` tries WebGPU, then wasm. */
export const WEB_DEVICES = Object.freeze({ auto: 'auto', webgpu: 'webgpu', wasm: 'wasm' } as const);
/** One of {@link WEB_DEVICES}. */
export type WebDevice = keyof typeof WEB_DEVICES;

/** Download progress, in the shape of the zoo's progress events (`initiate`, `progress`, `done`). */
export type ModelProgress =
  | { readonly status: 'initiate'; readonly name: string; readonly file: string }
  | { readonly status: 'progress'; readonly name: string; readonly file: string; readonly loaded: number; readonly total?: number; readonly progress?: number }
  | { readonly status: 'done'; readonly name: string; readonly file: string; readonly loaded: number };

/** Options of {@link loadOnlineModel}. */
export interface LoadOptions {
  /** @default 'auto' */
  readonly device?: WebDevice;
  /** wasm threads; 0 picks min(4, cores) when cross-origin isolated, else 1. @default 0 */
  readonly threads?: number;
  readonly onProgress?: (event: ModelProgress) => void;
}

/** A model ready to step frames. */
export interface LoadedModel {
  readonly info: DeployInfo;
  readonly stepper: OnlineStepper<ort.Tensor>;
  /** `webgpu` or `wasm`. */
  readonly backend: 'webgpu' | 'wasm';
  /** wasm threads in use (1 without cross-origin isolation). */
  readonly threads: number;
  readonly bytes: number;
}

/** Fetches `url` as bytes, reporting progress (total from Content-Length when the server sends it). */
async function fetchWithProgress(url: string, onProgress?: (e: ModelProgress) => void): Promise<Uint8Array> {
  const file = url.split('/').pop() || url;
  const base = { name: 'model', file };
  onProgress?.({ status: 'initiate', ...base });
  let res: Response;
  try {
    res = await fetch(url);
  } catch (cause) {
    throw new Error(`could not fetch ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!res.ok) {
    const detail = (await res.text().catch(() => '')).slice(0, 300).trim();
    throw new Error(`could not fetch ${url}: HTTP ${res.status} ${res.statusText}${detail ? ` (${detail})` : ''}`);
  }
  const total = Number(res.headers.get('Content-Length')) || undefined;
  const reader = res.body?.getReader();
  if (!reader) return new Uint8Array(await res.arrayBuffer());
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.({ status: 'progress', ...base, loaded, total, progress: total ? (100 * loaded) / total : undefined });
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  onProgress?.({ status: 'done', ...base, loaded });
  return bytes;
}

/** True when the browser exposes a WebGPU adapter (headless or GPU-less browsers have none). */
async function hasWebGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

/**
 * Loads the online model at `url`.
 * @throws {Error} with a message that says what failed (fetch, not an ONNX model, not an online model, ORT)
 */
export async function loadOnlineModel(url: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const bytes = await fetchWithProgress(url, opts.onProgress);
  const meta = readOnnxMetadata(bytes);
  const cores = navigator.hardwareConcurrency || 1;
  const threads = !crossOriginIsolated ? 1 : opts.threads || Math.max(1, Math.min(4, cores));
  ort.env.wasm.wasmPaths = ORT_WASM_PATH;
  ort.env.wasm.numThreads = threads;
  const device = opts.device ?? 'auto';
  const wantGpu = device === 'webgpu' || (device === 'auto' && (await hasWebGpu()));
  const infoFor = (s: ort.InferenceSession) => parseDeployMetadata(meta, s);
  let session: ort.InferenceSession | undefined;
  let backend: LoadedModel['backend'] = 'wasm';
  if (wantGpu) {
    try {
      // the shift buffers stay on the GPU between steps; only the logits come back
      const names = parseDeployMetadata(meta).bufferOutputs;
      const preferredOutputLocation = Object.fromEntries(names.map((n) => [n, 'gpu-buffer' as const]));
      session = await ort.InferenceSession.create(bytes, { executionProviders: ['webgpu'], preferredOutputLocation });
      backend = 'webgpu';
    } catch (err) {
      if (device === 'webgpu') throw err;
      session = undefined; // NOTE: falls back to wasm below, as 'auto' promises
    }
  }
  session ??= await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const info = infoFor(session);
  const stepper = new OnlineStepper(session, (data, dims) => new ort.Tensor('float32', data, dims as number[]), info);
  return { info, stepper, backend, threads: backend === 'wasm' ? threads : 0, bytes: bytes.length };
}
