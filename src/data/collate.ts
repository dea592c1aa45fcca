/** Collation of loaded clips into one batch, shared by the in-process loader and the loader workers. */
import { DataError } from '../errors.js';
import { hostTensor, type HostTensor } from '../tensor/index.js';
import { RandomState } from './random.js';
import { normalizeInto, stackedChannels } from './transforms.js';
import type { TSNDataSet } from './tsn-dataset.js';

/** One clip of a batch: which video, and the seed of its private random stream. */
export interface BatchItem {
  readonly index: number;
  readonly seed: number;
}

/** A collated batch. */
export interface Batch {
  /** `[B, T*C, H, W]` float32 (T*C includes every crop in multi-crop testing). */
  readonly input: HostTensor<'float32'>;
  /** `[B]` int64 class indices. */
  readonly labels: HostTensor<'int64'>;
  /** Video indices (positions in the list) of the clips. */
  readonly indices: readonly number[];
}

/** Loads the items' clips concurrently and collates them into one batch. */
export async function loadBatch(dataset: TSNDataSet, items: readonly BatchItem[]): Promise<Batch> {
  const groups = await Promise.all(items.map((it) => dataset.loadGroup(it.index, new RandomState(it.seed))));
  const first = groups[0].group;
  const channels = stackedChannels(first);
  const { width, height } = first[0];
  const per = channels * width * height;
  const data = new Float32Array(items.length * per);
  const labels = new BigInt64Array(items.length);
  groups.forEach((g, b) => {
    const n = stackedChannels(g.group);
    if (n !== channels || g.group[0].width !== width || g.group[0].height !== height) {
      throw new DataError(
        `cannot collate video ${items[b].index}: its clip is [${n}, ${g.group[0].height}, ${g.group[0].width}], the batch's first is [${channels}, ${height}, ${width}] (add a crop transform so every clip has one size)`,
      );
    }
    normalizeInto(g.group, dataset.options.normalize, data, b * per);
    labels[b] = BigInt(g.label);
  });
  return {
    input: hostTensor('float32', [items.length, channels, height, width], data),
    labels: hostTensor('int64', [items.length], labels),
    indices: items.map((it) => it.index),
  };
}
