/**
 * Reads a TSN/TSM configuration from a released checkpoint's file name, the way the original `main.py` builds
 * `store_name` and `test_models.py` reads it back:
 * `TSM_<dataset>_<modality>_<arch>[_shift<div>_<place>][_tpool]_<consensus>_segment<n>_e<epochs>[_dense][_nl]`.
 */
// TODO(#10): switch to the models' file-name parser (src/models/config.ts) once it lands; keep this shape.

/** The configuration a checkpoint's file name spells out. */
export interface CheckpointNameConfig {
  /** `kinetics`, `something`, `somethingv2`, `jester`, `ucf101`, `hmdb51`, ... */
  readonly dataset: string;
  readonly modality: 'RGB' | 'Flow' | 'RGBDiff';
  /** `resnet50`, `resnet101`, `mobilenetv2`, `BNInception`, ... */
  readonly arch: string;
  readonly isShift: boolean;
  /** `shift<div>`: 1/div of the channels move each way. Undefined without shift. */
  readonly shiftDiv?: number;
  readonly shiftPlace?: 'blockres' | 'block';
  /** `_tpool`: temporal pooling after layer1 halves T. */
  readonly temporalPool: boolean;
  /** Segment consensus, `avg` in every released model. */
  readonly consensus: string;
  /** `segment<n>`: the number of segments it was trained with. */
  readonly numSegments: number;
  readonly epochs: number;
  /** `_dense`: trained with I3D-style dense sampling. */
  readonly denseSample: boolean;
  /** `_nl`: non-local blocks in layer2 and layer3. */
  readonly nonLocal: boolean;
}

const NAME_RE =
  /^TSM_([A-Za-z0-9]+)_(RGB|Flow|RGBDiff)_([A-Za-z0-9]+?)(?:_shift(\d+)_(blockres|block))?(_tpool)?_([A-Za-z]+)_segment(\d+)_e(\d+)((?:_[A-Za-z0-9.-]+)*)$/;

/** Strips folders and the `.pth` / `.pth.tar` / `.tar` / `.ckpt` extension. */
export function checkpointStem(fileName: string): string {
  const base = fileName.split(/[\\/]/).pop() ?? fileName;
  return base.replace(/(\.pth\.tar|\.pth|\.pt|\.tar|\.ckpt)$/i, '');
}

/**
 * Parses a released checkpoint name (with or without folders and extension).
 * @returns the configuration, or `undefined` when the name does not follow the `TSM_...` pattern
 * @example
 * parseCheckpointName('TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth');
 * // { dataset: 'kinetics', modality: 'RGB', arch: 'resnet50', isShift: true, shiftDiv: 8, shiftPlace: 'blockres', ... }
 */
export function parseCheckpointName(fileName: string): CheckpointNameConfig | undefined {
  const m = NAME_RE.exec(checkpointStem(fileName));
  if (!m) return undefined;
  const suffixes = m[10] ? m[10].slice(1).split('_') : [];
  return {
    dataset: m[1],
    modality: m[2] as CheckpointNameConfig['modality'],
    arch: m[3],
    isShift: m[4] !== undefined,
    shiftDiv: m[4] === undefined ? undefined : Number(m[4]),
    shiftPlace: m[5] as CheckpointNameConfig['shiftPlace'],
    temporalPool: m[6] !== undefined,
    consensus: m[7],
    numSegments: Number(m[8]),
    epochs: Number(m[9]),
    denseSample: suffixes.includes('dense'),
    nonLocal: suffixes.includes('nl'),
  };
}
