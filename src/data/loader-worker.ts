/**
 * Loader worker thread: opens the dataset from the options the main thread sends (records already checked) and
 * answers batch requests with collated, transferable buffers. Started by {@link DataLoader}; not a public entry.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TsmError } from '../errors.js';
import { loadBatch, type BatchItem } from './collate.js';
import { TSNDataSet, type TSNDataSetOptions } from './tsn-dataset.js';
import type { VideoRecord } from './list-file.js';

/** Request from the main thread: a batch to load, or to finish the batches in hand and exit. */
export type WorkerRequest = { readonly id: number; readonly items: readonly BatchItem[] } | { readonly close: true };

/** Reply to the main thread: a batch's buffers, or the error that stopped it. */
export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly shape: readonly number[]; readonly input: Float32Array; readonly labels: BigInt64Array; readonly indices: readonly number[] }
  | { readonly id: number; readonly ok: false; readonly error: { readonly code?: string; readonly name: string; readonly message: string; readonly stack?: string } };

const port = parentPort;
if (port) {
  const opts = workerData as TSNDataSetOptions & { records: readonly VideoRecord[] };
  const dataset = new TSNDataSet({ ...opts, checkFrames: false });
  let inFlight = 0;
  let closing = false;
  const exitWhenIdle = (): void => {
    if (closing && inFlight === 0) port.close(); // nothing else keeps this thread alive: it exits
  };
  port.on('message', (req: WorkerRequest) => {
    if ('close' in req) {
      closing = true;
      exitWhenIdle();
      return;
    }
    if (closing) return;
    inFlight++;
    loadBatch(dataset, req.items).finally(() => {
      inFlight--;
      setImmediate(exitWhenIdle);
    }).then(
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
