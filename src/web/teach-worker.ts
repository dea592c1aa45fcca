/**
 * The training worker of {@link actionTeacher}: reads the base model, then trains on the clips it is sent with
 * onnxruntime-web (wasm, with threads when the page is cross-origin isolated), posting progress and finally the new
 * weights. The page stays responsive because none of this runs on its thread; cancelling terminates the worker.
 * Browser only (a module worker).
 */
import * as ort from 'onnxruntime-web';
import { TsmError } from '../errors.js';
import { type BaseModel, readBaseModel, teachModel } from '../teach/index.js';
import type { TeachReply, TeachRequest, WireTensor } from './teach-protocol.js';
import { openWasmSession } from './teach-runtime.js';

/**
 * What this worker is sent. NOTE: the page imports this type, which also puts the worker in a `tsc` build that
 * starts from the package entry (the worker is otherwise only named in a `new URL()`, which tsc does not follow).
 */
export type TeachWorkerRequest = TeachRequest;

const scope = globalThis as unknown as { postMessage(message: TeachReply, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<TeachRequest>) => void) | null };
let base: BaseModel | undefined;

const post = (message: TeachReply, transfer: Transferable[] = []): void => scope.postMessage(message, transfer);

async function handle(msg: TeachRequest): Promise<void> {
  if (msg.type === 'init') {
    ort.env.wasm.numThreads = msg.threads;
    if (msg.wasmPaths !== undefined) ort.env.wasm.wasmPaths = msg.wasmPaths as ort.Env.WasmPrefixOrFilePaths;
    base = readBaseModel(msg.base, { source: msg.source, inputSize: msg.inputSize });
    post({ type: 'ready' });
    return;
  }
  if (!base) throw new TsmError('TSM_INTERNAL', 'the training worker got clips before the base model (this is a bug, please report)');
  const taught = await teachModel(base.model, msg.clips, msg.classes, base.prep, openWasmSession, {
    ...msg.options,
    onProgress: (progress) => post({ type: 'progress', progress }),
  });
  const weights: WireTensor[] = [...taught.model.stateDict()].map(([k, t]) => [k, t.dtype as 'float32' | 'int64', t.shape, t.data as Float32Array | BigInt64Array]);
  // NOTE: copied, not transferred: the frozen weights are the base model's own arrays, which the next run needs
  post({ type: 'done', weights, history: taught.history, stepMs: taught.stepMs, prepareMs: taught.prepareMs });
}

scope.onmessage = (e: MessageEvent<TeachRequest>): void => {
  handle(e.data).catch((err: unknown) => {
    const e2 = err as Error & { code?: string };
    post({ type: 'error', name: e2.name ?? 'Error', code: e2.code, message: e2.message ?? String(err) });
  });
};
