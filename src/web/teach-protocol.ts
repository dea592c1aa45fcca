/**
 * Messages between {@link actionTeacher} (the page) and its training worker (./teach-worker.ts). Plain objects
 * and typed arrays only, so they cross `postMessage` by structured clone (weights by transfer). Browser only.
 */
import type { StoredClip, TeachEpoch, TeachOptions, TeachProgress } from '../teach/index.js';

/** One tensor of a state dict as it crosses to the page: key, dtype, shape, data. */
export type WireTensor = readonly [key: string, dtype: 'float32' | 'int64', shape: readonly number[], data: Float32Array | BigInt64Array];

/** What the page asks the worker. */
export type TeachRequest =
  | {
      readonly type: 'init';
      /** The base model's bytes (`.onnx` or `.pth`). */
      readonly base: Uint8Array;
      readonly source: string;
      readonly inputSize?: number;
      readonly threads: number;
      readonly wasmPaths?: string | Readonly<Record<string, string>>;
    }
  | {
      readonly type: 'train';
      readonly clips: readonly StoredClip[];
      readonly classes: readonly string[];
      readonly options: Omit<TeachOptions, 'onProgress' | 'signal'>;
    };

/** What the worker answers. */
export type TeachReply =
  | { readonly type: 'ready' }
  | { readonly type: 'progress'; readonly progress: TeachProgress }
  | {
      readonly type: 'done';
      readonly weights: readonly WireTensor[];
      readonly history: readonly TeachEpoch[];
      readonly stepMs: number;
      readonly prepareMs: number;
    }
  | { readonly type: 'error'; readonly name: string; readonly code?: string; readonly message: string };
