/**
 * Loader worker thread: opens the dataset from the options the main thread sends (records already checked) and
 * answers batch requests with collated, transferable buffers. Started by {@link DataLoader}; not a public entry.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TsmError } from '../errors.js';
import { loadBatch, type BatchItem } from './collate.js';
import { TSNDataSet, type TSNDataSetOptions } from './tsn-dataset.js';
import type { VideoRecord } from './list-file.js';

/** Request from the main thread. */
export interface WorkerRequest {
  readonly id: number;
  readonly items: readonly BatchItem[];
}

/** Reply to the main thread: a batch's buffers, or the error that stopped it. */
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly shape: readonly number[]; readonly input: Float32Array; readonly labels: BigInt64Array; readonly indices: readonly number[] }
  | { readonly id: number; readonly ok: false; readonly error: { readonly code?: string; readonly name: string; readonly message: string; readonly stack?: string } };

const port = parentPort;
if (port) {
  const opts = workerData as TSNDataSetOptions & { records: readonly VideoRecord[] };
  const dataset = new TSNDataSet({ ...opts, checkFrames: false });
  port.on('message', (req: WorkerRequest) => {
    loadBatch(dataset, req.items).then(
      (batch) => {
        const input = batch.input.data;
        const labels = batch.labels.data;
        const reply: WorkerReply = { id: req.id, ok: true, shape: batch.input.shape, input, labels, indices: batch.indices };
        port.postMessage(reply, [input.buffer as ArrayBuffer, labels.buffer as ArrayBuffer]);
      },
      (err: unknown) => {
        const e = err instanceof Error ? err : new Error(String(err));
        const reply: WorkerReply = { id: req.id, ok: false, error: { code: e instanceof TsmError ? e.code : undefined, name: e.name, message: e.message, stack: e.stack } };
        port.postMessage(reply);
      },
    );
  });
}
