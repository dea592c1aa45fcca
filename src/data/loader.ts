/**
 * The training/validation data loader: batches `[B, T*C, H, W]` float32 from worker threads with prefetch,
 * deterministic for a seed whatever the number of workers. Node only (node:worker_threads).
 */
import { Worker } from 'node:worker_threads';
import { DataError, InternalError, TsmError, UsageError } from '../errors.js';
import { hostTensor } from '../tensor/index.js';
import { loadBatch, type Batch, type BatchItem } from './collate.js';
import { mixSeed, RandomState } from './random.js';
import { TSNDataSet, type TSNDataSetOptions } from './tsn-dataset.js';
import type { WorkerReply, WorkerRequest } from './loader-worker.js';

/** Options of {@link DataLoader}. */
export interface DataLoaderOptions {
  /** Clips per batch. */
  readonly batchSize: number;
  /** Shuffle the videos every epoch. @default false */
  readonly shuffle?: boolean;
  /** Seed of the shuffles, the sampling offsets and the augmentation. @default 0 */
  readonly seed?: number;
  /** Worker threads; 0 loads on the calling thread. @default 2 */
  readonly numWorkers?: number;
  /** Batches requested ahead per worker. @default 2 */
  readonly prefetch?: number;
  /** Drop the last, smaller batch (the original does for training). @default false */
  readonly dropLast?: boolean;
}

/** Per-epoch seed derivation; `SHUFFLE_STREAM` is the stream of the permutation. */
const SHUFFLE_STREAM = 0xffffffff;

interface Pending {
  resolve: (b: Batch) => void;
  reject: (e: Error) => void;
}

/** Rebuilds a worker's error on this thread, keeping its code (a broken JPEG stays a `TSM_DATA` error). */
function reviveError(e: { code?: string; name: string; message: string; stack?: string }): Error {
  if (e.code === 'TSM_DATA') return new DataError(e.message);
  if (e.code === 'TSM_USAGE') return new UsageError(e.message);
  if (e.code) return new TsmError(e.code, e.message);
  const err = new Error(`loader worker failed: ${e.message}`);
  err.stack = e.stack;
  return err;
}

/**
 * The worker's script: from the TypeScript sources (tests, the repository's `tsm`) a bootstrap that registers tsx in
 * the worker; from the built package (`dist/`, plain node) the compiled worker itself.
 */
const WORKER_ENTRY = new URL(import.meta.url.endsWith('.ts') ? './loader-worker-entry.mjs' : './loader-worker.js', import.meta.url);

/** A small pool of loader workers; each request goes to the least busy one. */
class WorkerPool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure?: Error;

  constructor(count: number, data: unknown) {
    for (let i = 0; i < count; i++) {
      const worker = new Worker(WORKER_ENTRY, { workerData: data });
      const slot = { worker, busy: 0 };
      worker.on('message', (reply: WorkerReply) => {
        slot.busy--;
        const p = this.pending.get(reply.id);
        if (!p) return;
        this.pending.delete(reply.id);
        if (reply.ok) {
          p.resolve({
            input: hostTensor('float32', reply.shape, reply.input),
            labels: hostTensor('int64', [reply.labels.length], reply.labels),
            indices: reply.indices,
          });
        } else p.reject(reviveError(reply.error));
      });
      worker.on('error', (err) => this.fail(new InternalError(`a loader worker crashed: ${err.message}`)));
      worker.on('exit', (code) => {
        if (code !== 0 && !this.closed) this.fail(new InternalError(`a loader worker exited with code ${code}`));
      });
      this.workers.push(slot);
    }
  }

  closed = false;

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  request(items: readonly BatchItem[]): Promise<Batch> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy++;
    return new Promise<Batch>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const req: WorkerRequest = { id, items };
      slot.worker.postMessage(req);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    // NOTE: a worker is asked to finish its batches and exit, not terminated mid-batch: terminating a thread inside
    // a native call (libjpeg-turbo's binding) can abort the whole process ("terminate called after throwing an
    // instance of 'Napi::Error'"); terminate() stays as the fallback for a worker that does not exit
    await Promise.all(this.workers.map(({ worker }) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => void worker.terminate().then(() => resolve()), 10_000);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.postMessage({ close: true } satisfies WorkerRequest);
    })));
    this.pending.clear();
  }
}

/**
 * Iterates a {@link TSNDataSet} in batches. Each clip's randomness comes from its own stream seeded by
 * (seed, epoch, video index), so a run is reproducible whatever the worker count or timing. Batches arrive in
 * order; up to `numWorkers * prefetch` are loaded ahead.
 * @example
 * const loader = await DataLoader.create({ rootPath, listFile, numSegments: 8, transform: trainAugmentation() },
 *   { batchSize: 8, shuffle: true, seed: 1, numWorkers: 2 });
 * for await (const { input, labels } of loader.epoch(0)) { input.shape; } // [8, 24, 224, 224]
 * await loader.close();
 */
export class DataLoader {
  readonly options: Required<DataLoaderOptions>;
  private pool?: WorkerPool;

  private constructor(readonly dataset: TSNDataSet, opts: DataLoaderOptions) {
    const { batchSize, shuffle = false, seed = 0, numWorkers = 2, prefetch = 2, dropLast = false } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw UsageError.expected('batchSize', 'a positive integer', batchSize);
    if (!Number.isInteger(numWorkers) || numWorkers < 0) throw UsageError.expected('numWorkers', 'a non-negative integer', numWorkers);
    if (!Number.isInteger(prefetch) || prefetch < 1) throw UsageError.expected('prefetch', 'a positive integer', prefetch);
    this.options = { batchSize, shuffle, seed: seed >>> 0, numWorkers, prefetch, dropLast };
  }

  /**
   * Opens the dataset (checking its list and frame folders) and starts the workers.
   * @throws {DataError} from {@link TSNDataSet.open}
   * @throws {UsageError} for a bad option
   */
  static async create(dataset: TSNDataSetOptions | TSNDataSet, opts: DataLoaderOptions): Promise<DataLoader> {
    const ds = dataset instanceof TSNDataSet ? dataset : await TSNDataSet.open(dataset);
    const loader = new DataLoader(ds, opts);
    // the workers get the checked records, and the list file only to name it in errors
    if (loader.options.numWorkers > 0) loader.pool = new WorkerPool(loader.options.numWorkers, { ...ds.options, records: ds.records });
    return loader;
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length / this.options.batchSize;
    return this.options.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The batches of `epoch` as lists of (video index, seed), in order. */
  plan(epoch: number): BatchItem[][] {
    const { batchSize, shuffle, seed, dropLast } = this.options;
    const order = Array.from({ length: this.dataset.length }, (_, i) => i);
    if (shuffle) new RandomState(mixSeed(seed, epoch, SHUFFLE_STREAM)).shuffle(order);
    const batches: BatchItem[][] = [];
    for (let i = 0; i < order.length; i += batchSize) {
      const chunk = order.slice(i, i + batchSize);
      if (dropLast && chunk.length < batchSize) break;
      batches.push(chunk.map((index) => ({ index, seed: mixSeed(seed, epoch, index) })));
    }
    return batches;
  }

  /**
   * The batches of one epoch.
   * @throws {DataError} naming the file when a frame is missing or broken
   */
  async *epoch(epoch = 0): AsyncGenerator<Batch, void, undefined> {
    const plan = this.plan(epoch);
    const ahead = Math.max(1, this.options.numWorkers * this.options.prefetch);
    const inflight: Promise<Batch>[] = [];
    const start = (items: readonly BatchItem[]): void => {
      const p = this.pool ? this.pool.request(items) : loadBatch(this.dataset, items);
      p.catch(() => undefined); // rejections surface when awaited in order; this stops "unhandled" warnings
      inflight.push(p);
    };
    let next = 0;
    // in-process loading still overlaps one batch so decoding (libuv threads) runs while the caller works
    while (next < plan.length && inflight.length < ahead) start(plan[next++]);
    while (inflight.length > 0) {
      const batch = await (inflight.shift() as Promise<Batch>);
      if (next < plan.length) start(plan[next++]);
      yield batch;
    }
  }

  /** Stops the workers. The loader cannot be used afterwards. */
  async close(): Promise<void> {
    await this.pool?.close();
    this.pool = undefined;
  }
}
