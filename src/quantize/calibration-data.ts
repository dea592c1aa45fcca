/**
 * Calibration data: clips read by our own data pipeline with the model's own preprocessing (resize the shorter
 * side, centre crop, normalise), sampled as `tsm test` samples a video. The source is a dataset folder (its
 * `dataset.json`, as `tsm make-synthetic` and `tsm make-lists` write; the training list is used, so held-out
 * clips stay unseen), a folder of video files and/or frame folders (searched through subfolders, as class/video
 * layouts have them), or one video or frame folder. Node only.
 */
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { DATASET_MANIFEST, TSNDataSet, VIDEO_EXTENSIONS, datasetFromManifest, readListFile, testCropping } from '../data/index.js';
import { DataError, ShapeError, UsageError } from '../errors.js';
import { type ModelInput, loadInputClip } from '../evaluate/index.js';
import type { HostTensor } from '../tensor/index.js';

/** How a model wants its frames, as its deployment metadata says. */
export interface CalibrationPreprocessing {
  /** `[height, width]` of the crop; must be square. */
  readonly inputSize: readonly [number, number];
  readonly mean: readonly number[];
  readonly std: readonly number[];
  /** 1: pixels are divided by 255 before normalising; 255: not (BNInception). @default 1 */
  readonly inputRange?: 1 | 255;
  /** BGR channel order (BNInception). @default false */
  readonly bgr?: boolean;
}

/** Options of {@link openCalibrationSet}. */
export interface CalibrationSetOptions {
  /** The calibration clips: a dataset folder, a folder of videos, a folder of frame folders, or one video. */
  readonly path: string;
  /** Clips to use, spread evenly over the source. @default 32 */
  readonly clips?: number;
  /** Frames sampled per clip (test sampling: segment centres). */
  readonly segments: number;
  readonly preprocessing: CalibrationPreprocessing;
}

/** One calibration clip: `[segments * 3, H, W]` normalised float32. */
export interface CalibrationItem {
  /** The video file or frame folder it came from. */
  readonly id: string;
  readonly input: HostTensor<'float32'>;
}

/** Where the calibration clips come from, checked before anything is read or written. */
export interface CalibrationSet {
  /** What the path is: `dataset <name> (train list)`, `12 videos`, `40 frame folders`. */
  readonly source: string;
  /** Clips that will be read. */
  readonly clips: number;
  /** Reads the clips one by one. @throws {DataError} for a frame that cannot be decoded */
  read(): AsyncGenerator<CalibrationItem, void, undefined>;
}

/** Default of `calibrationClips`. */
export const DEFAULT_CALIBRATION_CLIPS = 32;

const IMAGE = /\.(?:jpe?g|png|bmp|webp)$/i;

/** The path's errors name it as the quantiser's option, `calibration`. */
const CALIBRATION = { options: ['calibration'] } as const;

/** The error for a calibration set `path` that does not exist (checked early by exports, before a slow read). */
export function missingCalibrationSet(path: string): UsageError {
  return new UsageError(`calibration ${path}: no such file or folder; pass a dataset folder (tsm make-synthetic, tsm make-lists), a folder of videos, or a folder of frame folders`, CALIBRATION);
}

/** `count` positions spread evenly over `total` (all of them when `count >= total`). */
export function spread(total: number, count: number): number[] {
  if (count >= total) return Array.from({ length: total }, (_, i) => i);
  return Array.from({ length: count }, (_, i) => Math.floor(((i + 0.5) * total) / count));
}

/**
 * Checks the calibration path and lists the clips it will give. Node only.
 * @throws {UsageError} when the path does not exist, holds no clips, or the preprocessing is not square RGB
 * @example
 * const set = await openCalibrationSet({ path: 'data/synthetic', clips: 32, segments: 8, preprocessing: info });
 * for await (const clip of set.read()) clip.input.shape; // [24, 224, 224]
 */
export async function openCalibrationSet(opts: CalibrationSetOptions): Promise<CalibrationSet> {
  const path = resolve(opts.path);
  const count = opts.clips ?? DEFAULT_CALIBRATION_CLIPS;
  if (!Number.isInteger(count) || count < 1) throw UsageError.expected('clips', 'a positive integer', count);
  const [h, w] = opts.preprocessing.inputSize;
  if (h !== w) throw new UsageError(`calibration needs a square model input, this model takes ${h}x${w}`);
  const input: ModelInput = {
    numSegments: opts.segments,
    newLength: 1,
    modality: 'RGB',
    inputSize: h,
    normalize: { mean: opts.preprocessing.mean, std: opts.preprocessing.std, div: (opts.preprocessing.inputRange ?? 1) === 1, roll: opts.preprocessing.bgr ?? false },
  };
  const expected = [opts.segments * 3, h, w];
  const checked = (id: string, t: HostTensor<'float32'>): CalibrationItem => {
    if (t.shape.length !== 3 || t.shape.some((d, i) => d !== expected[i])) {
      throw new ShapeError(`calibration clip ${id} gives [${t.shape.join(',')}], the model takes [${expected.join(',')}] (${opts.segments} RGB frames of ${h}x${w})`);
    }
    return { id, input: t };
  };

  const st = await stat(path).catch(() => undefined);
  if (!st) throw missingCalibrationSet(opts.path);
  if (st.isFile()) {
    if (!VIDEO_EXTENSIONS.includes(extname(path).toLowerCase())) {
      throw new UsageError(`calibration ${opts.path}: not a video file (${VIDEO_EXTENSIONS.join(', ')}) nor a folder`, CALIBRATION);
    }
    return fromInputs([path], `video ${basename(path)}`);
  }

  if (existsSync(join(path, DATASET_MANIFEST))) {
    const ds = datasetFromManifest(path);
    if (ds.modality !== 'RGB') {
      throw new UsageError(`calibration ${opts.path}: dataset ${ds.name} holds ${ds.modality} frames, the model takes RGB frames`, CALIBRATION);
    }
    // the training list, so the clips a model is tested on stay unseen; a set without one falls back to its validation list
    let list = ds.trainList;
    let records = existsSync(list) ? readListFile(list) : [];
    if (records.length === 0 && existsSync(ds.valList)) {
      list = ds.valList;
      records = readListFile(list);
    }
    if (records.length === 0) throw new UsageError(`calibration ${opts.path}: dataset ${ds.name} lists no clips (${ds.trainList} and ${ds.valList} are empty or missing)`, CALIBRATION);
    const picked = spread(records.length, count).map((i) => records[i]);
    const set = await TSNDataSet.open({
      rootPath: ds.rootPath,
      records: picked,
      numSegments: opts.segments,
      modality: 'RGB',
      imageTmpl: ds.imageTmpl,
      transform: testCropping(1, { inputSize: h }),
      normalize: input.normalize,
      randomShift: false,
      testMode: true,
    });
    return {
      source: `dataset ${ds.name} (${basename(list)}, ${picked.length} of ${records.length} clips)`,
      clips: set.length,
      async *read() {
        for (let i = 0; i < set.length; i++) yield checked(set.records[i].path, (await set.getItem(i)).input as HostTensor<'float32'>);
      },
    };
  }

  const videos: string[] = [];
  const folders: string[] = [];
  // class folders may hold the clips (Kinetics' class/video layout): walk down to the videos and frame folders
  const walk = async (d: string): Promise<void> => {
    const entries = (await readdir(d, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    if (d !== path && entries.some((e) => e.isFile() && IMAGE.test(e.name))) {
      folders.push(d);
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) await walk(join(d, e.name));
      else if (e.isFile() && VIDEO_EXTENSIONS.includes(extname(e.name).toLowerCase())) videos.push(join(d, e.name));
    }
  };
  await walk(path);
  if (videos.length + folders.length === 0 && (await readdir(path)).some((n) => IMAGE.test(n))) {
    return fromInputs([path], `frame folder ${basename(path)}`);
  }
  if (videos.length + folders.length === 0) {
    throw new UsageError(
      `calibration ${opts.path}: the folder holds no ${DATASET_MANIFEST}, no video files (${VIDEO_EXTENSIONS.join(', ')}) and no frame folders; nothing to calibrate on`,
      CALIBRATION,
    );
  }
  const what = [videos.length ? `${videos.length} videos` : '', folders.length ? `${folders.length} frame folders` : ''].filter(Boolean).join(' and ');
  return fromInputs([...videos, ...folders], what);

  function fromInputs(all: readonly string[], what: string): CalibrationSet {
    const picked = spread(all.length, count).map((i) => all[i]);
    return {
      source: `${what} in ${opts.path} (${picked.length} used)`,
      clips: picked.length,
      async *read() {
        for (const p of picked) {
          const clip = await loadInputClip(p, { input }).catch((cause: unknown) => {
            if (cause instanceof DataError || cause instanceof UsageError) throw new DataError(`calibration clip ${p}: ${cause.message}`, { cause });
            throw cause;
          });
          yield checked(p, clip.input);
        }
      },
    };
  }
}
