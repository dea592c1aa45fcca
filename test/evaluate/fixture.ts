/**
 * A tiny evaluation setup: a synthetic temporal-order dataset in a temp folder and a TSM-ResNet-18 checkpoint
 * with seeded random weights, saved under a released-style name so `tsm test` configures it from the file name.
 * The classifier is centred on the validation clips' features, so its predictions spread over the classes
 * instead of all landing on one (random backbones give nearly constant logits otherwise).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, writeNpy, writePth } from '../../src/checkpoint/index.js';
import { TSNDataSet, makeSyntheticDataset, readListFile, testCropping, type SyntheticClass } from '../../src/data/index.js';
import { TSN, TsnRunner, loadTsn, tsn } from '../../src/models/index.js';
import { float32 } from '../../src/tensor/index.js';
import { U32, U64, gamma } from '../helpers/fp32-bounds.js';
import { runPythonFile } from '../helpers/python.js';
import { makeRng, randn } from '../helpers/rng.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Runs `node bin/tsm.js ...` (about 1.5 s per spawn: tsx compiles the CLI). */
export const tsm = (...args: string[]) => spawnSync(process.execPath, [join(REPO, 'bin', 'tsm.js'), ...args], { encoding: 'utf8', timeout: 120_000 });

/** Crop size of the fixture's tests; the scale size is floor(28 * 256 / 224) = 32, the frames' own size. */
export const INPUT_SIZE = 28;

export const CLASSES: readonly SyntheticClass[] = ['left', 'right', 'up', 'down'];

/** Normalisation of ResNet inputs (ImageNet mean/std, 0..1). */
export const IMAGENET_NORM = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;

/** A TSN with seeded random weights (BN running_var kept positive). */
export function randomTsn(seed: number, numClass: number, numSegments: number): TSN {
  const rng = makeRng(seed);
  const model = tsn({ numClass, numSegments, baseModel: 'resnet18', isShift: true, dropout: 0.5 }).nameParameters();
  for (const [, p] of model.namedTensors()) {
    if (p.tensor.dtype !== 'float32') continue;
    p.tensor = float32(p.shape, randn(rng, p.tensor.data.length).map((v) => (p.key.includes('running_var') ? 1 + Math.abs(v) : 0.1 * v)));
  }
  return model.eval();
}

/** Loads video `i` of a list as 1-crop test clips (the fixture's classifier is fitted on these). */
export async function testDataset(root: string, list: string, numSegments: number, crops: 1 | 3 | 5 | 10 = 1, extra: { twiceSample?: boolean; denseSample?: boolean } = {}): Promise<TSNDataSet> {
  return TSNDataSet.open({
    rootPath: join(root, 'frames'),
    listFile: list,
    numSegments,
    imageTmpl: 'img_{:05d}.jpg',
    transform: testCropping(crops, { inputSize: INPUT_SIZE }),
    normalize: { mean: [...IMAGENET_NORM.mean], std: [...IMAGENET_NORM.std] },
    randomShift: false,
    testMode: true,
    ...extra,
  });
}

/**
 * Writes a checkpoint whose classifier projects the centred backbone features of the validation clips
 * (`W = R / std`, `b = -W · mean`) so logits vary from video to video.
 * @returns the checkpoint path
 */
export async function writeCentredCheckpoint(dir: string, dataset: string, seed: number, numSegments: number): Promise<string> {
  const feat = 512;
  const model = randomTsn(seed, feat, numSegments);
  const eye = float32([feat, feat]);
  for (let i = 0; i < feat; i++) (eye.data as Float32Array)[i * feat + i] = 1;
  model.new_fc!.weight.tensor = eye;
  model.new_fc!.bias!.tensor = float32([feat]);
  const ds = await testDataset(dataset, join(dataset, 'val_videofolder.txt'), numSegments);
  const runner = new TsnRunner(model, { threads: 1 });
  const feats: Float32Array[] = [];
  for (let i = 0; i < ds.length; i++) {
    const { input } = await ds.getItem(i);
    feats.push((await runner.logits(float32([1, ...input.shape], input.data))).data as Float32Array);
  }
  await runner.release();
  const mean = new Float64Array(feat);
  const sd = new Float64Array(feat);
  for (const f of feats) for (let j = 0; j < feat; j++) mean[j] += f[j] / feats.length;
  for (const f of feats) for (let j = 0; j < feat; j++) sd[j] += (f[j] - mean[j]) ** 2 / feats.length;
  const rng = makeRng(seed + 1000);
  const k = CLASSES.length;
  const w = float32([k, feat]);
  const b = float32([k]);
  for (let c = 0; c < k; c++) {
    let dot = 0;
    for (let j = 0; j < feat; j++) {
      const v = rng.normal() / (Math.sqrt(sd[j] + 1e-6) * Math.sqrt(feat)) * 3;
      (w.data as Float32Array)[c * feat + j] = v;
      dot += v * mean[j];
    }
    (b.data as Float32Array)[c] = -dot;
  }
  const sdict = model.stateDict();
  sdict.set('new_fc.weight', w);
  sdict.set('new_fc.bias', b);
  const path = join(dir, `TSM_synthetic_RGB_resnet18_shift8_blockres_avg_segment${numSegments}_e1_s${seed}.pth`);
  await writePth(path, { stateDict: sdict });
  return path;
}

/** The temp folder, dataset and checkpoint of one test file. */
export interface EvalFixture {
  readonly dir: string;
  /** Dataset folder (with dataset.json): usable as `tsm test <dataset>`. */
  readonly dataset: string;
  readonly valList: string;
  /** `TSM_synthetic_RGB_resnet18_shift8_blockres_avg_segment4_e1_s7.pth` */
  readonly weights: string;
  readonly labels: readonly number[];
}

/** Makes the dataset (4 classes x 3 val clips of 12 frames, 32 px) and the checkpoint (4 segments). */
export async function makeEvalFixture(seed = 7): Promise<EvalFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-eval-'));
  const dataset = join(dir, 'syn');
  await makeSyntheticDataset(dataset, { classes: CLASSES, clips: 4, size: 32, frames: 12, seed, valFraction: 0.75 });
  const weights = await writeCentredCheckpoint(dir, dataset, seed, 4);
  const valList = join(dataset, 'val_videofolder.txt');
  return { dir, dataset, valList, weights, labels: readListFile(valList).map((r) => r.label) };
}

/**
 * The float64 logits of the checkpoint `weights` on `views` (`[V, T*3, H, W]`, as TSN.forward takes them) and the
 * fp32 rounding-error bound of each (test/models/ref/tsn_budget.py: LAMBDA times its Monte Carlo sigma, floored at
 * the median; the float64 side's own error added), `[V, num_class]` row-major: what any fp32 evaluation of the
 * model, ours on any CPU included, is within. sigma is measured on the first `sigmaViews` views and the largest per
 * class taken for all (the Monte Carlo costs eight float64 forwards per view).
 */
export async function logitBudget(weights: string, views: Float32Array, shape: readonly number[], sigmaViews = 8): Promise<{ logits64: Float64Array; bound: Float64Array }> {
  const c = (await loadTsn(weights)).config;
  const kwargs = {
    num_class: c.numClass,
    num_segments: c.numSegments,
    modality: c.modality,
    base_model: c.baseModel,
    consensus_type: c.consensusType,
    before_softmax: c.beforeSoftmax,
    dropout: c.dropout,
    is_shift: c.isShift,
    shift_div: c.shiftDiv,
    shift_place: c.shiftPlace,
    temporal_pool: c.temporalPool,
    non_local: c.nonLocal,
  };
  const dir = mkdtempSync(join(tmpdir(), 'tsm-budget-'));
  try {
    await writeNpy(join(dir, 'views.npy'), float32([...shape], views));
    runPythonFile(join(REPO, 'test', 'models', 'ref', 'tsn_budget.py'), [weights, JSON.stringify(kwargs), join(dir, 'views.npy'), dir, String(sigmaViews)], 900_000);
    const logits64 = (await readNpy(join(dir, 'logits64.npy'))).data as Float64Array;
    const sigma = (await readNpy(join(dir, 'sigma.npy'))).data as Float64Array;
    const { lambda } = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { lambda: number };
    const median = Array.from(sigma).sort((a, b) => a - b)[Math.floor(sigma.length / 2)];
    return { logits64, bound: sigma.map((s) => lambda * Math.max(s, median) * (1 + U64 / U32)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Per-video scores from per-view logits `[videos * views, C]` (the mean over the views, then softmax when asked,
 * in float64), and how far the scores of any logits within `viewBound` of them can be: the mean moves by at most
 * the mean of the bounds (E), softmax by p (exp(E_c + max E) - 1); plus the float32 store of the scores.
 */
export function videoScoreBound(logits: ArrayLike<number>, viewBound: ArrayLike<number>, views: number, numClass: number, softmax: boolean): { scores: Float64Array; bound: Float64Array } {
  const videos = logits.length / (views * numClass);
  const scores = new Float64Array(videos * numClass);
  const bound = new Float64Array(videos * numClass);
  for (let b = 0; b < videos; b++) {
    const mean = new Float64Array(numClass);
    const e = new Float64Array(numClass);
    for (let v = 0; v < views; v++) {
      for (let c = 0; c < numClass; c++) {
        mean[c] += logits[(b * views + v) * numClass + c] / views;
        e[c] += viewBound[(b * views + v) * numClass + c] / views;
      }
    }
    let s = mean;
    if (softmax) {
      const m = Math.max(...mean);
      const ex = mean.map((x) => Math.exp(x - m));
      const z = ex.reduce((a, x) => a + x, 0);
      s = ex.map((x) => x / z);
    }
    const emax = Math.max(...e);
    for (let c = 0; c < numClass; c++) {
      scores[b * numClass + c] = s[c];
      const moved = softmax ? s[c] * Math.expm1(e[c] + emax) : e[c];
      bound[b * numClass + c] = moved + U32 * Math.abs(s[c]) + gamma(2 * views + 16, U64) * (Math.abs(s[c]) + moved);
    }
  }
  return { scores, bound };
}
