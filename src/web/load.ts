/**
 * Fetching an exported online model and opening it with onnxruntime-web: progress events while the bytes arrive,
 * the model's own metadata (labels, preprocessing, buffer shapes), then a session on WebGPU when the browser has
 * an adapter, else on wasm (SIMD, with threads when the page is cross-origin isolated). Browser only.
 */
import * as ort from 'onnxruntime-web';
import { DataError, RuntimeSessionError, UsageError } from '../errors.js';
import { type DeployInfo, parseDeployMetadata, readOnnxMetadata } from '../deploy/browser.js';

/** Backends a page can ask for; `auto` tries WebGPU, then wasm. */
export const WEB_DEVICES = Object.freeze({ auto: 'auto', webgpu: 'webgpu', wasm: 'wasm' } as const);
/** One of {@link WEB_DEVICES}. */
export type WebDevice = keyof typeof WEB_DEVICES;

/** Fields every {@link ModelProgress} event has. */
interface ProgressBase {
  /** The model as the caller named it (its URL, or `model` for bytes). */
  readonly name: string;
  /** The file name part of the URL. */
  readonly file: string;
}

/**
 * Download progress, as plain objects passed to one callback (the transformers.js shape, as the zoo's Node-side
 * events): `initiate`, `download`, `progress` (any number), `done`. Switch on `status`.
 */
export type ModelProgress =
  | (ProgressBase & { readonly status: 'initiate' })
  | (ProgressBase & { readonly status: 'download'; readonly url: string })
  | (ProgressBase & {
      readonly status: 'progress';
      /** Bytes received so far. */
      readonly loaded: number;
      /** From Content-Length; undefined when the server does not send it. */
      readonly total?: number;
      /** Percent, 0..100; undefined when `total` is. */
      readonly progress?: number;
    })
  | (ProgressBase & { readonly status: 'done'; readonly loaded: number });

/** Where a model comes from: a URL (relative to the page), or its bytes. */
export type ModelSource = string | URL | ArrayBuffer | Uint8Array;

/** Options of {@link openWebSession}. */
export interface WebSessionOptions {
  /** `auto` uses WebGPU when `navigator.gpu` gives an adapter, else wasm. @default 'auto' */
  readonly device?: WebDevice;
  /**
   * wasm threads. 0 picks min(4, cores) when the page is cross-origin isolated (threads need SharedArrayBuffer),
   * else 1. NOTE: onnxruntime-web reads this once, when its first session starts; later values are ignored.
   * @default 0
   */
  readonly threads?: number;
  /**
   * Where onnxruntime-web's `.wasm`/`.mjs` files are served (`ort.env.wasm.wasmPaths`). By default they load from
   * next to the onnxruntime-web module, which bundlers (Vite, webpack) emit as assets.
   */
  readonly wasmPaths?: ort.Env.WasmPrefixOrFilePaths;
  /** Receives download progress. It must not throw. */
  readonly onProgress?: (event: ModelProgress) => void;
  /** Passed to `InferenceSession.create` as is (execution providers are chosen from `device`). */
  readonly sessionOptions?: Readonly<ort.InferenceSession.SessionOptions>;
}

/** An open session and what its model says about itself. */
export interface WebSession {
  readonly session: ort.InferenceSession;
  readonly info: DeployInfo;
  /** The backend that runs it. */
  readonly backend: 'webgpu' | 'wasm';
  /** wasm threads in use; 0 on WebGPU. */
  readonly threads: number;
  /** Size of the model file. */
  readonly bytes: number;
}

const fileOf = (name: string): string => name.split(/[?#]/)[0].split('/').pop() || name;

/**
 * Fetches `url` as bytes, reporting progress.
 * @throws {DataError} naming the URL when the request fails or the server answers an error status
 */
export async function fetchModel(url: string, onProgress?: (e: ModelProgress) => void): Promise<Uint8Array> {
  const base = { name: url, file: fileOf(url) };
  onProgress?.({ status: 'initiate', ...base });
  onProgress?.({ status: 'download', ...base, url });
  let res: Response;
  try {
    res = await fetch(url);
  } catch (cause) {
    throw new DataError(`could not fetch the model ${url}: ${(cause as Error).message}`, { cause });
  }
  if (!res.ok) {
    const detail = (await res.text().catch(() => '')).slice(0, 300).trim();
    throw new DataError(`could not fetch the model ${url}: HTTP ${res.status} ${res.statusText}${detail ? ` (${detail})` : ''}`);
  }
  const total = Number(res.headers.get('Content-Length')) || undefined;
  const reader = res.body?.getReader();
  if (!reader) {
    const bytes = new Uint8Array(await res.arrayBuffer());
    onProgress?.({ status: 'done', ...base, loaded: bytes.length });
    return bytes;
  }
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

function checkOptions(opts: WebSessionOptions): void {
  if (opts.device !== undefined && !(opts.device in WEB_DEVICES)) {
    throw UsageError.expected('device', `one of ${Object.keys(WEB_DEVICES).join(', ')}`, opts.device);
  }
  if (opts.threads !== undefined && !(Number.isInteger(opts.threads) && opts.threads >= 0)) {
    throw UsageError.expected('threads', 'an integer >= 0 (0: automatic)', opts.threads);
  }
}

/**
 * Fetches (or takes) an exported model, reads its metadata and opens an onnxruntime-web session for it.
 * Browser only.
 * @throws {UsageError} for a bad option, or bytes that are not a model exported by `tsm export`
 * @throws {DataError} when the model cannot be fetched
 * @throws {RuntimeSessionError} when onnxruntime-web cannot open it
 */
export async function openWebSession(source: ModelSource, opts: WebSessionOptions = {}): Promise<WebSession> {
  checkOptions(opts);
  const name = typeof source === 'string' ? source : source instanceof URL ? source.href : 'model';
  const bytes = typeof source === 'string' || source instanceof URL ? await fetchModel(name, opts.onProgress) : new Uint8Array(source);
  const meta = readOnnxMetadata(bytes);
  const isolated = typeof crossOriginIsolated !== 'undefined' && crossOriginIsolated;
  const threads = !isolated ? 1 : opts.threads || Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
  if (opts.wasmPaths !== undefined) ort.env.wasm.wasmPaths = opts.wasmPaths;
  ort.env.wasm.numThreads = threads;
  const device = opts.device ?? 'auto';
  let session: ort.InferenceSession | undefined;
  let backend: WebSession['backend'] = 'wasm';
  if (device === 'webgpu' || (device === 'auto' && (await hasWebGpu()))) {
    try {
      // the shift buffers stay on the GPU between steps; only the logits come back
      const names = parseDeployMetadata(meta).bufferOutputs;
      const preferredOutputLocation = Object.fromEntries(names.map((n) => [n, 'gpu-buffer' as const]));
      session = await ort.InferenceSession.create(bytes, { ...opts.sessionOptions, executionProviders: ['webgpu'], preferredOutputLocation });
      backend = 'webgpu';
    } catch (cause) {
      if (device === 'webgpu') throw new RuntimeSessionError(`onnxruntime-web could not open ${name} on WebGPU: ${(cause as Error).message}`, { cause });
      session = undefined; // NOTE: falls back to wasm below, as 'auto' promises
    }
  }
  if (!session) {
    try {
      session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', ...opts.sessionOptions, executionProviders: ['wasm'] });
    } catch (cause) {
      throw new RuntimeSessionError(`onnxruntime-web could not open ${name} on wasm: ${(cause as Error).message}`, { cause });
    }
  }
  try {
    const info = parseDeployMetadata(meta, session);
    return { session, info, backend, threads: backend === 'wasm' ? threads : 0, bytes: bytes.length };
  } catch (err) {
    await session.release();
    throw err;
  }
}
