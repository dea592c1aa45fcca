/**
 * Dataset configurations, as ops/dataset_config.py: where each dataset's category file, train/val lists and frame
 * folders live under the dataset root, and how its frames are named. Node only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { DataError, UsageError } from '../errors.js';
import type { Modality } from './list-file.js';

/** Environment variable naming the dataset root when `--root-path` is not given. */
export const DATA_ROOT_ENV = 'TSM_DATA_ROOT';

/** Where one modality of a dataset lives, relative to the dataset root. */
export interface ModalityLayout {
  /** Folder that list-file paths are relative to (`root_data`). */
  readonly root: string;
  readonly trainList: string;
  readonly valList: string;
  /** Frame-name template (`prefix`). */
  readonly imageTmpl: string;
}

/** A dataset's static description (one `return_<name>` function of the original). */
export interface DatasetSpec {
  /** Class count, or a category file (relative to the root) with one class name per line. */
  readonly categories: number | string;
  readonly numClasses: number;
  /** Whether horizontal flip is a valid augmentation; false where labels depend on direction. */
  readonly flip: boolean;
  readonly modalities: Readonly<Partial<Record<Modality, ModalityLayout>>>;
}

/** The original's six datasets (ops/dataset_config.py), keyed by the name `main.py` takes. */
export const DATASETS: Readonly<Record<string, DatasetSpec>> = Object.freeze({
  ucf101: {
    categories: 'UCF101/labels/classInd.txt',
    numClasses: 101,
    flip: true,
    modalities: {
      RGB: { root: 'UCF101/jpg', trainList: 'UCF101/file_list/ucf101_rgb_train_split_1.txt', valList: 'UCF101/file_list/ucf101_rgb_val_split_1.txt', imageTmpl: 'img_{:05d}.jpg' },
      Flow: { root: 'UCF101/jpg', trainList: 'UCF101/file_list/ucf101_flow_train_split_1.txt', valList: 'UCF101/file_list/ucf101_flow_val_split_1.txt', imageTmpl: 'flow_{}_{:05d}.jpg' },
    },
  },
  hmdb51: {
    categories: 51,
    numClasses: 51,
    flip: true,
    modalities: {
      RGB: { root: 'HMDB51/images', trainList: 'HMDB51/splits/hmdb51_rgb_train_split_1.txt', valList: 'HMDB51/splits/hmdb51_rgb_val_split_1.txt', imageTmpl: 'img_{:05d}.jpg' },
      Flow: { root: 'HMDB51/images', trainList: 'HMDB51/splits/hmdb51_flow_train_split_1.txt', valList: 'HMDB51/splits/hmdb51_flow_val_split_1.txt', imageTmpl: 'flow_{}_{:05d}.jpg' },
    },
  },
  something: {
    categories: 'something/v1/category.txt',
    numClasses: 174,
    flip: false,
    modalities: {
      RGB: { root: 'something/v1/20bn-something-something-v1', trainList: 'something/v1/train_videofolder.txt', valList: 'something/v1/val_videofolder.txt', imageTmpl: '{:05d}.jpg' },
      Flow: { root: 'something/v1/20bn-something-something-v1-flow', trainList: 'something/v1/train_videofolder_flow.txt', valList: 'something/v1/val_videofolder_flow.txt', imageTmpl: '{:06d}-{}_{:05d}.jpg' },
    },
  },
  somethingv2: {
    categories: 'something/v2/category.txt',
    numClasses: 174,
    flip: false,
    modalities: {
      RGB: { root: 'something/v2/20bn-something-something-v2-frames', trainList: 'something/v2/train_videofolder.txt', valList: 'something/v2/val_videofolder.txt', imageTmpl: '{:06d}.jpg' },
      Flow: { root: 'something/v2/20bn-something-something-v2-flow', trainList: 'something/v2/train_videofolder_flow.txt', valList: 'something/v2/val_videofolder_flow.txt', imageTmpl: '{:06d}.jpg' },
    },
  },
  jester: {
    categories: 'jester/category.txt',
    numClasses: 27,
    flip: false,
    modalities: {
      RGB: { root: 'jester/20bn-jester-v1', trainList: 'jester/train_videofolder.txt', valList: 'jester/val_videofolder.txt', imageTmpl: '{:05d}.jpg' },
    },
  },
  kinetics: {
    categories: 400,
    numClasses: 400,
    flip: true,
    modalities: {
      RGB: { root: 'kinetics/images', trainList: 'kinetics/labels/train_videofolder.txt', valList: 'kinetics/labels/val_videofolder.txt', imageTmpl: 'img_{:05d}.jpg' },
    },
  },
} satisfies Record<string, DatasetSpec>);

/** A dataset resolved to absolute paths (what `return_dataset` returns, plus the flip rule). */
export interface DatasetConfig {
  readonly name: string;
  readonly modality: Modality;
  readonly numClasses: number;
  /** Class names, or `null` entries where the dataset has only a count (kinetics, hmdb51). */
  readonly categories: readonly (string | null)[];
  readonly trainList: string;
  readonly valList: string;
  /** Folder the list paths are relative to. */
  readonly rootPath: string;
  readonly imageTmpl: string;
  /** False for Something-Something and Jester, whose labels depend on direction. */
  readonly flip: boolean;
}

/** Options of {@link resolveDataset}. */
export interface ResolveDatasetOptions {
  /** Dataset root (the original's `ROOT_DATASET`). @default process.env.TSM_DATA_ROOT */
  readonly rootPath?: string;
  /** Environment to read {@link DATA_ROOT_ENV} from. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Name of the manifest a dataset folder carries (written by `make-synthetic` and `make-lists`). */
export const DATASET_MANIFEST = 'dataset.json';

/** Contents of a folder's `dataset.json`; paths relative to that folder. */
export interface DatasetManifest {
  readonly name: string;
  readonly modality?: Modality;
  /** Category file, one name per line. */
  readonly categories: string;
  readonly trainList: string;
  readonly valList: string;
  /** Frames root. @default '.' */
  readonly root?: string;
  /** @default 'img_{:05d}.jpg' */
  readonly imageTmpl?: string;
  /** @default true */
  readonly flip?: boolean;
}

const registry = new Map<string, (modality: Modality, opts: ResolveDatasetOptions) => DatasetConfig>();

function readCategories(file: string): string[] {
  if (!existsSync(file)) throw new DataError(`category file ${file} does not exist (check rootPath or ${DATA_ROOT_ENV})`, { options: ['rootPath'] });
  // as the original: one name per line, trailing whitespace removed, blank trailing lines dropped
  const lines = readFileSync(file, 'utf8').split(/\r?\n/).map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Registers a custom dataset under `name`, so {@link resolveDataset} (and `--dataset name`) finds it. The config's
 * paths are used as given. Registering a built-in name throws.
 * @example registerDataset('mine', { ...config }) // config from datasetFromManifest() or built by hand
 * @throws {UsageError} when `name` is a built-in dataset
 */
export function registerDataset(name: string, config: Omit<DatasetConfig, 'name' | 'modality'> & { modality?: Modality }): void {
  if (name in DATASETS) throw new UsageError(`cannot register "${name}": it is a built-in dataset (${Object.keys(DATASETS).join(', ')})`);
  registry.set(name, (modality) => ({ ...config, name, modality: config.modality ?? modality }));
}

/**
 * Reads a dataset folder's `dataset.json` (the standard layout written by `tsm make-synthetic` and
 * `tsm make-lists`) into a {@link DatasetConfig}.
 * @throws {DataError} when the manifest or its category file is missing or malformed
 */
export function datasetFromManifest(dir: string): DatasetConfig {
  const file = join(dir, DATASET_MANIFEST);
  let m: DatasetManifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as DatasetManifest;
  } catch (cause) {
    throw new DataError(`cannot read dataset manifest ${file}: ${(cause as Error).message}`, { cause });
  }
  for (const key of ['name', 'categories', 'trainList', 'valList'] as const) {
    if (typeof m[key] !== 'string') throw new DataError(`${file}: "${key}" must be a string, got ${JSON.stringify(m[key])}`);
  }
  const categories = readCategories(resolve(dir, m.categories));
  return {
    name: m.name,
    modality: m.modality ?? 'RGB',
    numClasses: categories.length,
    categories,
    trainList: resolve(dir, m.trainList),
    valList: resolve(dir, m.valList),
    rootPath: resolve(dir, m.root ?? '.'),
    imageTmpl: m.imageTmpl ?? 'img_{:05d}.jpg',
    flip: m.flip ?? true,
  };
}

/**
 * Resolves a dataset name (or a folder with a `dataset.json`) and modality to absolute paths, as the original's
 * `return_dataset`. The root comes from `opts.rootPath`, else `$TSM_DATA_ROOT`.
 * @param name one of {@link DATASETS}, a name given to {@link registerDataset}, or a dataset folder
 * @throws {UsageError} for an unknown name, a modality the dataset lacks, or no root
 * @throws {DataError} when the category file is missing
 * @example resolveDataset('something', 'RGB', { rootPath: '/ssd/video' }).imageTmpl // '{:05d}.jpg'
 */
export function resolveDataset(name: string, modality: Modality, opts: ResolveDatasetOptions = {}): DatasetConfig {
  const custom = registry.get(name);
  if (custom) return custom(modality, opts);
  const spec = DATASETS[name];
  if (!spec) {
    if (existsSync(join(name, DATASET_MANIFEST))) return datasetFromManifest(name);
    throw UsageError.unsupported('dataset', name, [...Object.keys(DATASETS), ...registry.keys()], `or a folder with a ${DATASET_MANIFEST}`);
  }
  const layout = spec.modalities[modality];
  if (!layout) {
    throw UsageError.expected(`the modality of ${name}`, `one of ${Object.keys(spec.modalities).join(', ')}`, modality);
  }
  const root = opts.rootPath ?? (opts.env ?? process.env)[DATA_ROOT_ENV];
  if (!root) throw new UsageError(`no dataset root for ${name}: pass rootPath: DIR or set ${DATA_ROOT_ENV}`, { options: ['rootPath'] });
  if (!existsSync(root) || !statSync(root).isDirectory()) throw new UsageError(`dataset root ${root} is not a folder`);
  const at = (p: string): string => (isAbsolute(p) ? p : join(root, p));
  const categories = typeof spec.categories === 'string' ? readCategories(at(spec.categories)) : new Array<null>(spec.categories).fill(null);
  return {
    name,
    modality,
    numClasses: categories.length,
    categories,
    trainList: at(layout.trainList),
    valList: at(layout.valList),
    rootPath: at(layout.root),
    imageTmpl: layout.imageTmpl,
    flip: spec.flip,
  };
}
