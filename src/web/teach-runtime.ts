/**
 * Teaching sessions on onnxruntime-web's wasm backend (the CPU kernels compiled to WebAssembly, with SIMD and
 * threads): what the training worker runs its graphs on. Browser only.
 */
import * as ort from 'onnxruntime-web';
import { RuntimeSessionError } from '../errors.js';
import type { OpenSession, TeachSession } from '../teach/index.js';
import type { HostTensor } from '../tensor/index.js';

/** The session options of the teacher's graphs on onnxruntime-web's wasm backend. */
export function wasmSessionOptions(): ort.InferenceSession.SessionOptions {
  return { executionProviders: ['wasm'], graphOptimizationLevel: 'all' };
}

/**
 * Opens `bytes` on wasm; feeds and fetches are host tensors (wrapped, not copied, on the way in).
 * @throws {RuntimeSessionError} naming the graph when onnxruntime-web cannot open or run it
 */
export const openWasmSession: OpenSession = async (bytes, name): Promise<TeachSession> => {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, wasmSessionOptions());
  } catch (cause) {
    throw new RuntimeSessionError(`onnxruntime-web could not open the ${name} graph: ${(cause as Error).message}`, { cause });
  }
  return {
    async run(feeds) {
      const inputs: Record<string, ort.Tensor> = {};
      for (const [k, t] of Object.entries(feeds)) inputs[k] = new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape as number[]);
      let out: ort.InferenceSession.ReturnType;
      try {
        out = await session.run(inputs);
      } catch (cause) {
        throw new RuntimeSessionError(`onnxruntime-web failed to run the ${name} graph: ${(cause as Error).message}`, { cause });
      }
      const host: Record<string, HostTensor> = {};
      for (const [k, t] of Object.entries(out)) host[k] = { dtype: t.type as 'float32', shape: t.dims, data: t.data as Float32Array };
      return host;
    },
    release: () => session.release(),
  };
};
