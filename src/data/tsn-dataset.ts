/**
 * The TSN dataset (ops/dataset.py `TSNDataSet`): list records -> sampled frame indices -> decoded frames ->
 * group transforms -> a normalised `[T*C, H, W]` tensor. Node only.
 */
import { DataError, TsmError, UsageError } from '../errors.js';
import type { HostTensor } from '../tensor/index.js';
import { decodeImage, makeImage, type Image } from './image.js';
import { checkLabels, checkRecords, framePaths, MIN_FRAMES, readListFile, type Modality, type RecordProblem, type VideoRecord } from './list-file.js';
import { RandomState } from './random.js';
import { framesToLoad, segmentIndices, type SamplingMode } from './sampling.js';
import { buildTransforms, GroupCompose, groupToTensor, normalizationFor, type NormalizeSpec, type TransformSpec } from './transforms.js';

/** Options of {@link TSNDataSet}: the original's constructor arguments in camelCase, plus checking switches. */
export interface TSNDataSetOptions {
  /** Folder the list paths are relative to (`root_path`). */
  readonly rootPath: string;
  /** List file (`list_file`); or pass `records`. */
  readonly listFile?: string;
  /** Records to use instead of reading `listFile`. */
  readonly records?: readonly VideoRecord[];
  /** @default 3 */
  readonly numSegments?: number;
  /** Frames per segment: 1 for RGB, 5 for Flow in the original. @default 1 */
  readonly newLength?: number;
  /** @default 'RGB' */
  readonly modality?: Modality;
  /** @default 'img_{:05d}.jpg' */
  readonly imageTmpl?: string;
  /** Group transforms, e.g. {@link trainAugmentation}. @default [] */
  readonly transform?: readonly TransformSpec[];
  /** Stack/ToTorchFormatTensor/GroupNormalize settings. @default normalizationFor(modality) */
  readonly normalize?: NormalizeSpec;
  /** Training sampling (random offsets); false gives validation sampling. @default true */
  readonly randomShift?: boolean;
  /** Test sampling (`_get_test_indices`). @default false */
  readonly testMode?: boolean;
  /** In test mode, still drop videos with fewer than 3 frames (`remove_missing`). @default false */
  readonly removeMissing?: boolean;
  /** @default false */
  readonly denseSample?: boolean;
  /** @default false */
  readonly twiceSample?: boolean;
  /** Check every frame folder when opening (first and last frame exist). @default true */
  readonly checkFrames?: boolean;
  /** Drop records whose frame folder is missing or too short instead of throwing. @default false */
  readonly skipMissing?: boolean;
  /** Classes of the model the clips are for: when given, opening checks every label is in `[0, numClasses)`. */
  readonly numClasses?: number;
  /**
   * Decode JPEG frames with libjpeg-turbo's fast IDCT (a few levels of 255 from PIL's pixels; see
   * `DecodeOptions.fast`). @default true with training sampling (`randomShift` and not `testMode`), else false, so
   * evaluation sees exactly the original's inputs
   */
  readonly fastDecode?: boolean;
}

/** One loaded clip. */
export interface TSNItem {
  /** `[frames * channels, H, W]`, frames crop after crop for multi-crop testing. */
  readonly input: HostTensor<'float32'>;
  readonly label: number;
  /** The 1-based segment indices that were sampled. */
  readonly indices: readonly number[];
}

/** Transformed frames of one clip, before normalisation (what the loader collates). */
export interface TSNGroup {
  readonly group: Image[];
  readonly label: number;
  readonly indices: readonly number[];
}

/** sth-v1 flow lists count x and y files together (ops/dataset.py halves them). */
const STH_V1_FLOW_TMPL = '{:06d}-{}_{:05d}.jpg';

/**
 * Frames-on-disk video dataset with TSN sampling, mirroring ops/dataset.py `TSNDataSet`.
 * Differences, on purpose: a broken frame throws a {@link DataError} naming the file (the original silently loads
 * frame 1 instead), and missing frame folders are reported when the dataset opens (the original picks another
 * random video at load time) unless `skipMissing` is set.
 * @example
 * const ds = await TSNDataSet.open({ rootPath, listFile, numSegments: 8, transform: trainAugmentation() });
 * const { input, label } = await ds.getItem(0, new RandomState(1)); // input.shape [24, 224, 224]
 */
export class TSNDataSet {
  readonly records: readonly VideoRecord[];
  /** Records dropped when opening: fewer than 3 frames (as the original), or skipped problems. */
  readonly dropped: readonly RecordProblem[];
  readonly options: Readonly<Required<Omit<TSNDataSetOptions, 'listFile' | 'records' | 'numClasses'>>> & { readonly listFile?: string; readonly numClasses?: number };
  private readonly transform: GroupCompose;

  /** Use {@link TSNDataSet.open}; the constructor takes already-checked records. */
  constructor(opts: TSNDataSetOptions & { readonly records: readonly VideoRecord[] }, dropped: readonly RecordProblem[] = []) {
    const modality = opts.modality ?? 'RGB';
    if (modality !== 'RGB' && modality !== 'Flow') throw UsageError.expected('modality', 'one of RGB, Flow', modality);
    this.options = {
      rootPath: opts.rootPath,
      listFile: opts.listFile,
      numSegments: opts.numSegments ?? 3,
      newLength: opts.newLength ?? 1,
      modality,
      imageTmpl: opts.imageTmpl ?? 'img_{:05d}.jpg',
      transform: opts.transform ?? [],
      normalize: opts.normalize ?? normalizationFor(modality),
      randomShift: opts.randomShift ?? true,
      testMode: opts.testMode ?? false,
      removeMissing: opts.removeMissing ?? false,
      denseSample: opts.denseSample ?? false,
      twiceSample: opts.twiceSample ?? false,
      checkFrames: opts.checkFrames ?? true,
      skipMissing: opts.skipMissing ?? false,
      numClasses: opts.numClasses,
      fastDecode: opts.fastDecode ?? ((opts.randomShift ?? true) && !(opts.testMode ?? false)),
    };
    this.records = opts.records;
    this.dropped = dropped;
    this.transform = buildTransforms(this.options.transform);
  }

  /**
   * Reads the list (or takes `records`), drops videos with fewer than 3 frames as `_parse_list` does (except in
   * test mode without `removeMissing`), checks the labels against `numClasses` and the frame folders.
   * @throws {DataError} for a malformed list line, a label out of range, or missing / too-short frame folders
   *   without `skipMissing`
   */
  static async open(opts: TSNDataSetOptions): Promise<TSNDataSet> {
    if (!opts.records && !opts.listFile) throw new UsageError('TSNDataSet needs a listFile or records');
    const source = opts.listFile ?? '<records>';
    let records = opts.records ? [...opts.records] : readListFile(opts.listFile as string);
    const tmpl = opts.imageTmpl ?? 'img_{:05d}.jpg';
    if (opts.numClasses !== undefined) checkLabels(records, opts.numClasses, source);
    if (tmpl === STH_V1_FLOW_TMPL) records = records.map((r) => ({ ...r, numFrames: Math.floor(r.numFrames / 2) }));
    const dropped: RecordProblem[] = [];
    if (!opts.testMode || opts.removeMissing) {
      records = records.filter((record, i) => {
        if (record.numFrames >= MIN_FRAMES) return true;
        dropped.push({ record, line: i + 1, kind: 'too-short', detail: `${record.path} has ${record.numFrames} frames, fewer than ${MIN_FRAMES}` });
        return false;
      });
    }
    if (opts.checkFrames ?? true) {
      const problems = checkRecords(records, { rootPath: opts.rootPath, imageTmpl: tmpl, modality: opts.modality ?? 'RGB', minFrames: 1 });
      if (problems.length > 0 && !opts.skipMissing) {
        // p.line counts the records checked; the record's own line is the file's
        const shown = problems.slice(0, 5).map((p) => `  line ${p.record.line ?? p.line}: ${p.detail}`).join('\n');
        throw new DataError(
          `${problems.length} of ${records.length} videos in ${source} have missing or too-short frame folders:\n${shown}` +
            `${problems.length > 5 ? `\n  ... and ${problems.length - 5} more` : ''}\n` +
            'fix the list (tsm make-lists) or skip them (skipMissing: true)',
          { options: ['skipMissing'] },
        );
      }
      const bad = new Set(problems.map((p) => p.record));
      records = records.filter((r) => !bad.has(r));
      dropped.push(...problems);
    }
    return new TSNDataSet({ ...opts, records }, dropped);
  }

  /** Number of videos. */
  get length(): number {
    return this.records.length;
  }

  /** The sampler this dataset uses. */
  get mode(): SamplingMode {
    return this.options.testMode ? 'test' : this.options.randomShift ? 'train' : 'val';
  }

  /** 1-based segment indices for video `index` (`_sample_indices` / `_get_val_indices` / `_get_test_indices`). */
  indicesFor(index: number, rng: RandomState): number[] {
    const r = this.record(index);
    return segmentIndices(this.mode, r.numFrames, this.options, rng);
  }

  private record(index: number): VideoRecord {
    const r = this.records[index];
    if (!r) throw new UsageError(`video index ${index} is out of range [0, ${this.records.length})`);
    return r;
  }

  /** Decodes the frames of one time step: one RGB image, or the x and y flow images. */
  private async loadFrame(record: VideoRecord, p: number): Promise<Image[]> {
    const { rootPath, imageTmpl, modality, fastDecode } = this.options;
    const paths = framePaths(rootPath, record.path, imageTmpl, modality, p);
    const how = { fast: fastDecode };
    if (modality === 'RGB') return [await decodeImage(paths[0], 'RGB', how)];
    if (paths.length === 2) return Promise.all(paths.map((f) => decodeImage(f, 'L', how)));
    // flow stored as one RGB image of (x, y, blank)
    const rgb = await decodeImage(paths[0], 'RGB', how);
    return [0, 1].map((k) => {
      const n = rgb.width * rgb.height;
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = rgb.data[3 * i + k];
      return makeImage(rgb.width, rgb.height, 1, out);
    });
  }

  /**
   * Samples, decodes and transforms video `index`; the frames are not yet normalised.
   * @throws {DataError} naming the list file and line of the video, and the frame file that is missing or broken
   */
  async loadGroup(index: number, rng: RandomState): Promise<TSNGroup> {
    const record = this.record(index);
    const indices = this.indicesFor(index, rng);
    const frames = framesToLoad(indices, record.numFrames, this.options.newLength);
    const cache = new Map<number, Promise<Image[]>>();
    for (const p of frames) if (!cache.has(p)) cache.set(p, this.loadFrame(record, p));
    try {
      const images = (await Promise.all(frames.map((p) => cache.get(p) as Promise<Image[]>))).flat();
      const group = await this.transform.apply(images, rng);
      return { group, label: record.label, indices };
    } catch (err) {
      // a frame problem is a list problem to the user: say which line names the video
      if (!(err instanceof TsmError) || err.code !== 'TSM_DATA') throw err;
      const where = this.options.listFile ? `${this.options.listFile}:${record.line ?? index + 1}` : `video ${index}`;
      throw new DataError(`${where}: video ${record.path}: ${err.message}`, { cause: err });
    }
  }

  /**
   * Loads video `index` as the original's `__getitem__` does.
   * @param rng randomness for sampling and augmentation. @default new RandomState(0)
   * @throws {DataError} naming the frame file that is missing or broken
   */
  async getItem(index: number, rng: RandomState = new RandomState(0)): Promise<TSNItem> {
    const { group, label, indices } = await this.loadGroup(index, rng);
    return { input: groupToTensor(group, this.options.normalize), label, indices };
  }
}
