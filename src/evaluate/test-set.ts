/**
 * The videos one model is tested on: the dataset's list (or `--test-list`) read in test mode, as test_models.py
 * builds its `TSNDataSet`, cut to `--max-num` and to one shard, with the frame folders of the kept videos
 * checked up front. Node only.
 */
import { type DatasetConfig, TSNDataSet, checkRecords } from '../data/index.js';
import { DataError } from '../errors.js';
import { type ModelInput, type TestProtocol, testTransforms } from './protocol.js';
import type { ScoredVideo } from './score-file.js';
import { type Shard, shardPositions } from './shard.js';

/** Options of {@link openTestSet}. */
export interface OpenTestSetOptions {
  readonly dataset: DatasetConfig;
  /** List file. @default the dataset's validation list */
  readonly listFile?: string;
  /** The model's input (segments, new_length, modality, normalisation). */
  readonly input: ModelInput;
  readonly protocol?: TestProtocol;
  /**
   * Drop videos with fewer than 3 frames. test_models.py does for a single model and not for an ensemble
   * (`remove_missing=len(weights_list) == 1`). @default true
   */
  readonly removeMissing?: boolean;
  /** Only the first `maxNum` videos; 0 or less for all. @default 0 */
  readonly maxNum?: number;
  /** Only this shard's videos. */
  readonly shard?: Shard;
}

/** A model's test videos, ready for a {@link DataLoader}. */
export interface TestSet {
  /** The shard's videos, in list order; item i of the dataset is `videos[i]`. */
  readonly dataset: TSNDataSet;
  readonly videos: readonly ScoredVideo[];
  /** Videos in the whole run (every shard). */
  readonly total: number;
  readonly listFile: string;
  /** Videos dropped for having fewer than 3 frames. */
  readonly dropped: number;
}

/**
 * Opens a model's test videos.
 * @throws {DataError} for an unreadable list or a malformed line (naming file and line), a label outside the
 *   dataset's classes, or kept videos whose frame folders are missing or short of frames
 * @example
 * const set = await openTestSet({ dataset: resolveDataset('something', 'RGB'), input: modelInputOf(model), protocol: { testCrops: 3 } });
 */
export async function openTestSet(opts: OpenTestSetOptions): Promise<TestSet> {
  const { dataset: ds, input, protocol = {} } = opts;
  const listFile = opts.listFile ?? ds.valList;
  const all = await TSNDataSet.open({
    rootPath: ds.rootPath,
    listFile,
    numSegments: input.numSegments,
    newLength: input.newLength,
    modality: input.modality,
    imageTmpl: ds.imageTmpl,
    transform: testTransforms(protocol, input),
    normalize: input.normalize,
    randomShift: false,
    testMode: true,
    removeMissing: opts.removeMissing ?? true,
    denseSample: protocol.denseSample ?? false,
    twiceSample: protocol.twiceSample ?? false,
    checkFrames: false,
    numClasses: ds.numClasses,
  });
  const maxNum = opts.maxNum ?? 0;
  const records = maxNum > 0 ? all.records.slice(0, maxNum) : all.records;
  if (records.length === 0) throw new DataError(`${listFile} lists no videos${all.dropped.length > 0 ? ` with 3 frames or more (${all.dropped.length} dropped)` : ''}`);
  const positions = shardPositions(records.length, opts.shard);
  const kept = positions.map((p) => records[p]);
  const problems = checkRecords(kept, { rootPath: ds.rootPath, imageTmpl: ds.imageTmpl, modality: input.modality, minFrames: 1 });
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).map((p) => `  video ${positions[p.line - 1]} (${p.record.path}): ${p.detail}`).join('\n');
    throw new DataError(
      `${problems.length} of ${kept.length} videos of ${listFile} have missing frames:\n${shown}` +
        `${problems.length > 5 ? `\n  ... and ${problems.length - 5} more` : ''}\n` +
        `check rootPath (frames are read from ${ds.rootPath} with the template ${ds.imageTmpl}) or fix the list (tsm make-lists)`,
      { options: ['rootPath'] },
    );
  }
  const { listFile: _l, ...options } = all.options;
  return {
    dataset: new TSNDataSet({ ...options, listFile, records: kept }, all.dropped),
    videos: positions.map((p) => ({ index: p, id: records[p].path, label: records[p].label })),
    total: records.length,
    listFile,
    dropped: all.dropped.length,
  };
}
