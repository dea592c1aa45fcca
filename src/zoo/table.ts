/**
 * The model zoo: every checkpoint released in the original repository's README (mit-han-lab/temporal-shift-module,
 * "Pretrained Models" and the online demo), with its hosted URLs and the accuracy the README reports under each
 * test protocol. The configuration of each model is read from its file name by the models' parser.
 */
import { InternalError, UsageError } from '../errors.js';
import { checkpointStem, parseCheckpointName, type NameConfig } from '../models/config.js';

/** Datasets of the released models, with their class counts (ops/dataset_config.py). */
export const ZOO_DATASETS = Object.freeze({
  kinetics: { title: 'Kinetics-400', numClass: 400 },
  something: { title: 'Something-Something V1', numClass: 174 },
  somethingv2: { title: 'Something-Something V2', numClass: 174 },
  jester: { title: 'Jester', numClass: 27 },
} as const);

/** One of {@link ZOO_DATASETS}. */
export type ZooDataset = keyof typeof ZOO_DATASETS;

/**
 * How the README measured an accuracy (test_models.py flags).
 * NOTE: `crops: 3` is GroupFullResSample: three crops along the long side after scaling the short side to 256.
 */
export interface ZooProtocol {
  /** Frames per clip (`--test_segments`). */
  readonly segments: number;
  /** Clips per video: 1 (uniform), 2 (`--twice_sample`), 10 (`--dense_sample`). */
  readonly clips: 1 | 2 | 10;
  /** Crops per frame (`--test_crops`): 1 = center crop, 3 = full-resolution three crops, 10 = ten crops. */
  readonly crops: 1 | 3 | 10;
  readonly sampling: 'uniform' | 'dense' | 'twice';
  /** Crops of 256x256 instead of 224x224 (`--full_res`). */
  readonly fullRes: boolean;
  /** The original test_models.py flags the README gives for this setting. */
  readonly testArgs: string;
}

/** One accuracy the README reports, in percent. */
export interface ZooResult {
  readonly protocol: ZooProtocol;
  readonly top1: number;
  /** Only the Flow model's table reports top-5. */
  readonly top5?: number;
}

/** Fields every released TSM file name spells out (shiftDiv and shiftPlace only when `isShift`). */
type SpelledOut = 'dataset' | 'numClass' | 'modality' | 'arch' | 'isShift' | 'temporalPool' | 'consensusType' | 'numSegments' | 'epochs' | 'dense' | 'nonLocal';

/** A TSN/TSM configuration as the models' parser reads it from a released file name. */
export type ZooTsnConfig = { readonly kind: 'tsn' } & NameConfig & Required<Pick<NameConfig, SpelledOut>>;

/** The architecture of a zoo model: a TSN/TSM read from its file name, or the online-demo network. */
export type ZooModelConfig =
  | ZooTsnConfig
  | { readonly kind: 'online'; readonly arch: 'mobilenetv2'; readonly modality: 'RGB'; readonly numSegments: 1 };

const SPELLED_OUT: readonly SpelledOut[] = ['dataset', 'numClass', 'modality', 'arch', 'isShift', 'temporalPool', 'consensusType', 'numSegments', 'epochs', 'dense', 'nonLocal'];

/** One released checkpoint. */
export interface ZooEntry {
  /** The file name without `.pth` / `.pth.tar`; what `--weights NAME` takes. */
  readonly name: string;
  /** The file name as hosted, and as stored in the cache. */
  readonly file: string;
  /** Download URLs in the order they are tried: the README's current link first, then the hosts it used before. */
  readonly urls: readonly string[];
  readonly dataset: ZooDataset;
  readonly numClass: number;
  /** The README's row label, e.g. `TSM ResNet50 NL`. */
  readonly title: string;
  /** The README table it comes from. */
  readonly table: string;
  /** Accuracies as the README reports them; the first is the one `tsm zoo` lists. */
  readonly results: readonly ZooResult[];
  readonly config: ZooModelConfig;
  /** Size in bytes, when known; checked after download. */
  readonly size?: number;
  /** sha256 (hex, or a prefix of at least 8 digits), when known; checked after download. */
  readonly sha256?: string;
  /** Anything a user should know before using it. */
  readonly note?: string;
}

/** Hosts of the README's links, newest first (the README moved from hanlab.mit.edu to file.lzhu.me to hanlab18). */
const HOSTS = [
  'https://hanlab18.mit.edu/projects/tsm/models/',
  'https://file.lzhu.me/projects/tsm/models/',
  'https://hanlab.mit.edu/projects/tsm/models/',
] as const;

/** 1 clip × 1 center crop (`--test_crops=1`): the README's "1-crop" / "center crop * 1clip". */
const centerCrop = (segments: number): ZooProtocol => ({
  segments, clips: 1, crops: 1, sampling: 'uniform', fullRes: false,
  testArgs: `--test_segments=${segments} --test_crops=1`,
});
/** 1 clip × 10 crops (`--test_crops=10`): the README's "10-crop". */
const tenCrop = (segments: number): ZooProtocol => ({
  segments, clips: 1, crops: 10, sampling: 'uniform', fullRes: false,
  testArgs: `--test_segments=${segments} --test_crops=10`,
});
/** The Non-local I3D protocol: dense sampling, 10 clips × 3 full-resolution crops. */
const denseFullRes = (segments: number): ZooProtocol => ({
  segments, clips: 10, crops: 3, sampling: 'dense', fullRes: true,
  testArgs: `--test_segments=${segments} --test_crops=3 --dense_sample --full_res`,
});
/**
 * Something-Something "full res * 2clip".
 * NOTE: the README's command for it is `--test_crops=3 --twice_sample` without `--full_res`, so the three crops
 * are 224 wide; we record the command as given.
 */
const twiceFullRes = (segments: number): ZooProtocol => ({
  segments, clips: 2, crops: 3, sampling: 'twice', fullRes: true,
  testArgs: `--test_segments=${segments} --test_crops=3 --twice_sample`,
});

interface Row {
  readonly title: string;
  readonly table: string;
  readonly results: readonly ZooResult[];
  readonly note?: string;
}

/** A TSN/TSM checkpoint hosted under the README's `models/` folder; its config comes from its name. */
function released(file: string, row: Row): ZooEntry {
  const config = parseCheckpointName(file);
  const absent = SPELLED_OUT.filter((k) => config[k] === undefined);
  if (absent.length > 0) throw new InternalError(`zoo file name ${file} does not spell out ${absent.join(', ')}`);
  const dataset = config.dataset as ZooDataset;
  if (!(dataset in ZOO_DATASETS)) throw new InternalError(`zoo entry ${file} has unknown dataset ${config.dataset}`);
  return {
    name: checkpointStem(file),
    file,
    urls: HOSTS.map((h) => h + file),
    dataset,
    numClass: ZOO_DATASETS[dataset].numClass,
    config: { kind: 'tsn', ...config } as ZooTsnConfig,
    ...row,
  };
}

const K400_DENSE = 'Kinetics-400, dense sampling';
const K400_UNIFORM = 'Kinetics-400, uniform sampling';

/** Every released checkpoint, in README order. */
export const ZOO: readonly ZooEntry[] = Object.freeze([
  // Kinetics-400. The TSN checkpoint appears in both the dense and the uniform table.
  // NOTE: it was trained with 5 segments (the name says segment5) and is tested with 8; TSN has no shift, so the
  // weights do not depend on the segment count.
  released('TSM_kinetics_RGB_resnet50_avg_segment5_e50.pth', {
    title: 'TSN ResNet50 (2D)', table: `${K400_UNIFORM} / ${K400_DENSE}`,
    results: [
      { protocol: centerCrop(8), top1: 68.8 },
      { protocol: tenCrop(8), top1: 69.9 },
      { protocol: denseFullRes(8), top1: 70.6 },
    ],
  }),
  released('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense.pth', {
    title: 'TSM ResNet50', table: K400_DENSE, results: [{ protocol: denseFullRes(8), top1: 74.1 }],
  }),
  released('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl.pth', {
    title: 'TSM ResNet50 NL', table: K400_DENSE, results: [{ protocol: denseFullRes(8), top1: 75.6 }],
  }),
  released('TSM_kinetics_RGB_mobilenetv2_shift8_blockres_avg_segment8_e100_dense.pth', {
    title: 'TSM MobileNetV2', table: K400_DENSE, results: [{ protocol: denseFullRes(8), top1: 69.5 }],
  }),
  released('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth', {
    title: 'TSM ResNet50', table: K400_UNIFORM,
    results: [{ protocol: centerCrop(8), top1: 71.2 }, { protocol: tenCrop(8), top1: 72.8 }],
  }),
  released('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment16_e50.pth', {
    title: 'TSM ResNet50', table: K400_UNIFORM,
    results: [{ protocol: centerCrop(16), top1: 72.6 }, { protocol: tenCrop(16), top1: 73.7 }],
  }),
  released('TSM_kinetics_Flow_resnet50_shift8_blockres_avg_segment8_e50.pth', {
    title: 'TSM ResNet50 (Flow)', table: 'Kinetics-400, optical flow',
    // The README gives only "8 * 1clip"; test_models.py's default is --test_crops=1.
    results: [{ protocol: centerCrop(8), top1: 55.7, top5: 79.5 }],
    note: 'intended for transfer learning, not for evaluation (README: hyper-parameters not tuned)',
  }),
  // Something-Something V1: "efficient" (center crop * 1clip) and "accurate" (full res * 2clip) settings.
  released('TSM_something_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth', {
    title: 'TSM ResNet50', table: 'Something-Something V1',
    results: [{ protocol: centerCrop(8), top1: 45.6 }, { protocol: twiceFullRes(8), top1: 47.2 }],
  }),
  released('TSM_something_RGB_resnet50_shift8_blockres_avg_segment16_e45.pth', {
    title: 'TSM ResNet50', table: 'Something-Something V1',
    results: [{ protocol: centerCrop(16), top1: 47.2 }, { protocol: twiceFullRes(16), top1: 48.4 }],
  }),
  released('TSM_something_RGB_resnet101_shift8_blockres_avg_segment8_e45.pth', {
    title: 'TSM ResNet101', table: 'Something-Something V1',
    results: [{ protocol: centerCrop(8), top1: 46.9 }, { protocol: twiceFullRes(8), top1: 48.7 }],
  }),
  // Something-Something V2: accurate setting only.
  released('TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment8_e45.pth', {
    title: 'TSM ResNet50', table: 'Something-Something V2', results: [{ protocol: twiceFullRes(8), top1: 61.2 }],
  }),
  released('TSM_somethingv2_RGB_resnet50_shift8_blockres_avg_segment16_e45.pth', {
    title: 'TSM ResNet50', table: 'Something-Something V2', results: [{ protocol: twiceFullRes(16), top1: 63.1 }],
  }),
  released('TSM_somethingv2_RGB_resnet101_shift8_blockres_avg_segment8_e45.pth', {
    title: 'TSM ResNet101', table: 'Something-Something V2', results: [{ protocol: twiceFullRes(8), top1: 63.3 }],
  }),
  // The online hand-gesture demo (online_demo/main.py): a bare state dict of its MobileNetV2 with shift buffers.
  {
    name: 'mobilenetv2_jester_online',
    file: 'mobilenetv2_jester_online.pth.tar',
    urls: HOSTS.map((h) => `${h}mobilenetv2_jester_online.pth.tar`),
    dataset: 'jester',
    numClass: 27,
    title: 'Online TSM MobileNetV2 (live demo)',
    table: 'online_demo',
    results: [],
    config: { kind: 'online', arch: 'mobilenetv2', modality: 'RGB', numSegments: 1 },
    note: 'online (streaming) model of the Jetson Nano demo; the README reports no accuracy',
  },
]);

/** Human wording of a protocol: `8 segments, 1 clip × 1 crop (center crop)`. */
export function describeProtocol(p: ZooProtocol): string {
  const clips =
    p.sampling === 'dense' ? `dense sampling, ${p.clips} clips`
    : p.sampling === 'twice' ? `${p.clips} clips (twice sample)`
    : `${p.clips} clip`;
  const crops =
    p.crops === 1 ? '1 crop (center crop)'
    : p.crops === 3 ? `3 crops (full resolution${p.fullRes ? ' 256' : ''})`
    : `${p.crops} crops`;
  return `${p.segments} segments, ${clips} × ${crops}`;
}

/**
 * The zoo entry for `name`: a file name with or without `.pth` / `.pth.tar` and folders, or `undefined`.
 * @example
 * findZooEntry('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50')?.results[0].top1; // 71.2
 */
export function findZooEntry(name: string, zoo: readonly ZooEntry[] = ZOO): ZooEntry | undefined {
  const stem = checkpointStem(name);
  return zoo.find((e) => e.name === stem) ?? zoo.find((e) => e.name.toLowerCase() === stem.toLowerCase());
}

/**
 * Like {@link findZooEntry}, but throws for an unknown name.
 * @throws {UsageError} naming the valid zoo names
 */
export function getZooEntry(name: string): ZooEntry {
  const entry = findZooEntry(name);
  if (!entry) {
    throw UsageError.unsupported('zoo model', name, ZOO.map((e) => e.name), '(see `tsm zoo`)');
  }
  return entry;
}
