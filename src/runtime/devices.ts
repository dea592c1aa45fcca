/**
 * Execution devices. The user-facing name is mapped to onnxruntime execution providers in one place.
 */
import { UsageError } from '../errors.js';
import { oneOf } from '../util/check.js';

/** Devices a model can run on. `cpu`/`cuda` are Node only; `wasm`/`webgpu` browser only; `auto` picks. */
export const DEVICES = Object.freeze({ auto: 'auto', cpu: 'cpu', cuda: 'cuda', wasm: 'wasm', webgpu: 'webgpu' } as const);

/** One of {@link DEVICES}. */
export type Device = keyof typeof DEVICES;

/** Parses a device name, listing the valid ones on error. */
export function parseDevice(name: string): Device {
  return oneOf('device', name, DEVICES);
}

/** An onnxruntime execution provider entry (a name or `{ name, ...options }`). */
export type ExecutionProvider = string | { readonly name: string; readonly deviceId?: number };

/**
 * Execution providers for a device, given the backends this onnxruntime build supports.
 * `auto` prefers CUDA where it is present, else CPU (Node), or WebGPU else wasm (browser).
 */
export function executionProvidersFor(device: Device, supported: readonly string[], deviceId = 0): ExecutionProvider[] {
  const has = (n: string) => supported.includes(n);
  switch (device) {
    case 'cpu':
      return ['cpu'];
    case 'cuda':
      if (!has('cuda')) {
        throw new UsageError(
          'device "cuda" is not available in this onnxruntime-node install: reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node (see README, "GPU")',
        );
      }
      return [{ name: 'cuda', deviceId }, 'cpu'];
    case 'wasm':
      return ['wasm'];
    case 'webgpu':
      return ['webgpu', 'wasm'];
    case 'auto':
      if (has('cuda')) return [{ name: 'cuda', deviceId }, 'cpu'];
      if (has('cpu')) return ['cpu'];
      if (has('webgpu')) return ['webgpu', 'wasm'];
      return ['wasm'];
  }
}
