/**
 * TSN configuration: the backbone table, the dataset table, and the configuration a released checkpoint's file
 * name encodes (`TSM_<dataset>_<modality>_<arch>[_shift<div>_<place>][_online][_tpool]_<consensus>_segment<N>_e<E>
 * ...`), read as the original `test_models.py` (`parse_shift_option_from_log_name`) and `main.py` (`store_name`)
 * do. `_online` (our addition) marks a uni-directional shift (`tsm train --online-shift`).
 */
import { UsageError } from '../errors.js';
import { IMAGENET_MEAN, IMAGENET_STD } from '../util/imagenet.js';
import { CONSENSUS_TYPES, type ConsensusType } from './consensus.js';
import { SHIFT_PLACES, type ShiftMode, type ShiftPlace } from './temporal-shift.js';


/** What TSN needs to know about a backbone: its family, feature width and input normalization (RGB). */
export interface ArchInfo {
  readonly family: 'resnet' | 'mobilenetv2' | 'bninception';
  /** Width of the pooled feature that feeds the classifier. */
  readonly featureDim: number;
  /** `TSN.input_size`. */
  readonly inputSize: number;
  /** `TSN.input_mean` for RGB, in the units of {@link ArchInfo.inputRange}. */
  readonly inputMean: readonly number[];
  /** `TSN.input_std` for RGB. */
  readonly inputStd: readonly number[];
  /** Pixel range before normalization: 1 (ToTorchFormatTensor(div=True)) or 255 (BNInception). */
  readonly inputRange: 1 | 255;
}

const resnetInfo = (featureDim: number): ArchInfo => ({ family: 'resnet', featureDim, inputSize: 224, inputMean: IMAGENET_MEAN, inputStd: IMAGENET_STD, inputRange: 1 });

/** Every backbone TSN supports, by the name `--arch` takes (the original's `base_model`). */
export const ARCHS = Object.freeze({
  resnet18: resnetInfo(512),
  resnet34: resnetInfo(512),
  resnet50: resnetInfo(2048),
  resnet101: resnetInfo(2048),
  resnet152: resnetInfo(2048),
  mobilenetv2: { family: 'mobilenetv2', featureDim: 1280, inputSize: 224, inputMean: IMAGENET_MEAN, inputStd: IMAGENET_STD, inputRange: 1 },
  BNInception: { family: 'bninception', featureDim: 1024, inputSize: 224, inputMean: [104, 117, 128], inputStd: [1], inputRange: 255 },
} satisfies Record<string, ArchInfo>);
/** One of {@link ARCHS}. */
export type Arch = keyof typeof ARCHS;

/**
 * The canonical arch name for `name` (case-insensitive; `bninception`, `mobilenet_v2` and `mobilenet-v2` too).
 * @throws {UsageError} listing the valid names
 */
export function parseArch(name: string): Arch {
  const key = name.toLowerCase().replace(/[-_]/g, '');
  const hit = (Object.keys(ARCHS) as Arch[]).find((a) => a.toLowerCase() === key);
  if (!hit) throw UsageError.unsupported('arch', name, Object.keys(ARCHS));
  return hit;
}

/** Class counts of the datasets the original `ops/dataset_config.py` knows. */
export const DATASETS = Object.freeze({
  kinetics: 400,
  something: 174,
  somethingv2: 174,
  jester: 27,
  ucf101: 101,
  hmdb51: 51,
});
/** One of {@link DATASETS}. */
export type Dataset = keyof typeof DATASETS;

/** Input modalities (`RGBDiff` of the original is not supported). */
export const MODALITIES = Object.freeze({ RGB: 'RGB', Flow: 'Flow' } as const);
/** One of {@link MODALITIES}. */
export type Modality = keyof typeof MODALITIES;

/** Channels of one frame: 3 for RGB, 2 for Flow (x and y), as TSN.forward's `sample_len`. */
export const channelsPerFrame = (m: Modality): number => (m === 'RGB' ? 3 : 2);

/** The original's `new_length` default: 1 for RGB, 5 for Flow. */
export const defaultNewLength = (m: Modality): number => (m === 'RGB' ? 1 : 5);

/** What a checkpoint file name says. Fields the name does not encode are absent. */
export interface NameConfig {
  readonly dataset?: string;
  readonly numClass?: number;
  readonly modality?: Modality;
  readonly arch?: Arch;
  readonly isShift?: boolean;
  readonly shiftDiv?: number;
  readonly shiftPlace?: ShiftPlace;
  /** `online` when the name has the `online` token after the shift place (`tsm train --online-shift`); else absent. */
  readonly shiftMode?: ShiftMode;
  readonly temporalPool?: boolean;
  readonly consensusType?: ConsensusType;
  readonly numSegments?: number;
  readonly epochs?: number;
  /** Trained with dense (I3D-style) sampling; informs testing, not the model. */
  readonly dense?: boolean;
  readonly nonLocal?: boolean;
}

/**
 * The last part of a path or URL (`/` or `\` separated), trailing separators ignored.
 * NOTE: not node:path's basename, so the models stay free of Node built-ins (the browser builds them too).
 */
const basename = (path: string): string => path.replace(/[\\/]+$/, '').split(/[\\/]/).pop() ?? '';

/** The file name without its folder and `.pth` / `.pth.tar` / `.tar` / `.ckpt` ending. */
export const checkpointStem = (path: string): string => basename(path).replace(/(\.pth)?(\.tar)?$|\.ckpt$/, '');

/**
 * Reads the configuration a TSM checkpoint name encodes, e.g.
 * `TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e100_dense_nl.pth` → kinetics (400 classes), RGB,
 * resnet50, shift 1/8 blockres, avg, 8 segments, 100 epochs, dense, non-local; `..._shift8_blockres_online_...`
 * is an online (uni-directional) shift. A name without `TSM_` gives `{}`;
 * a TSN baseline name (no `shift<div>` token) gives `isShift: false`.
 * @throws {UsageError} when a `TSM_` name has an unknown arch or a malformed shift token
 */
export function parseCheckpointName(path: string): NameConfig {
  const stem = checkpointStem(path);
  const at = stem.indexOf('TSM_');
  if (at < 0) return {};
  // as test_models.py: weights.split('TSM_')[1].split('_') -> dataset, modality, arch, ...
  const tokens = stem.slice(at + 4).split('_');
  const [dataset, modalityToken, archToken] = tokens;
  const out: { -readonly [K in keyof NameConfig]: NameConfig[K] } = {};
  if (dataset) {
    out.dataset = dataset;
    if (dataset in DATASETS) out.numClass = DATASETS[dataset as Dataset];
  }
  // as test_models.py: 'RGB' in name -> RGB, else Flow
  if (modalityToken !== undefined) out.modality = stem.includes('RGB') ? 'RGB' : 'Flow';
  if (archToken !== undefined) out.arch = parseArch(archToken);
  const rest = tokens.slice(3);
  const shiftAt = rest.findIndex((t) => t.startsWith('shift'));
  out.isShift = shiftAt >= 0;
  if (shiftAt >= 0) {
    const div = Number(rest[shiftAt].slice('shift'.length));
    if (!Number.isInteger(div) || div < 1) throw new UsageError(`checkpoint name ${basename(path)}: shift token "${rest[shiftAt]}" should be shift<div>, e.g. shift8`);
    out.shiftDiv = div;
    const place = rest[shiftAt + 1];
    if (!Object.hasOwn(SHIFT_PLACES, place)) throw UsageError.unsupported('shift place', place, Object.keys(SHIFT_PLACES), `(checkpoint name ${basename(path)})`);
    out.shiftPlace = place as ShiftPlace;
    if (rest[shiftAt + 2] === 'online') out.shiftMode = 'online';
  }
  out.temporalPool = rest.includes('tpool');
  const segAt = rest.findIndex((t) => /^segment\d+$/.test(t));
  if (segAt >= 0) {
    out.numSegments = Number(rest[segAt].slice('segment'.length));
    const consensus = rest[segAt - 1];
    if (consensus !== undefined && consensus in CONSENSUS_TYPES) out.consensusType = consensus as ConsensusType;
  }
  const epochs = rest.find((t) => /^e\d+$/.test(t));
  if (epochs) out.epochs = Number(epochs.slice(1));
  out.dense = rest.includes('dense');
  out.nonLocal = rest.includes('nl');
  return out;
}
