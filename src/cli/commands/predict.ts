/**
 * `tsm predict INPUT... --weights W [--top-k 5] [--json] [--labels FILE | --dataset NAME]`: the best classes of
 * video files (decoded with ffmpeg) and frame folders, sampled and cropped as `tsm test` does. Many inputs run in
 * batches with a progress bar; `--shard i/n --output DIR` predicts every n-th input into a partial score file.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { DATASETS, resolveDataset } from '../../data/index.js';
import { TsmError, UsageError } from '../../errors.js';
import { type PredictEvent, type PredictOptions, type Prediction, type TestCrops, describeTestProtocol, parseShard, predict, writeScoreSet } from '../../evaluate/index.js';
import { parseCheckpointName } from '../../models/config.js';
import { parseDevice } from '../../runtime/index.js';
import { addSnakeAliases, mergeSnakeAliases } from './data-common.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { type RawFlags, addModelFlagAliases, addModelFlags, intFlag, parseModelFlags, strFlag } from './model-flags.js';
import { aliasOptions, flagMessage } from '../option-flags.js';
import { evaluationBar } from './test.js';
import { describeWeightsEvent } from './weights.js';
import { ZOO_DATASETS } from '../../zoo/index.js';

/** Parsed options of `tsm predict`. */
export interface PredictCommandOptions extends Omit<PredictOptions, 'onProgress' | 'onNote'> {
  readonly inputs: readonly string[];
  readonly json: boolean;
  /** Folder for the score file (required with `--shard`). */
  readonly output?: string;
  /** Dataset whose category names label the classes. */
  readonly dataset?: string;
  readonly rootPath?: string;
  /** The `--labels` file `labels` were read from. */
  readonly labelsFile?: string;
}


/** Reads a label file: one class name per line, trailing blank lines dropped. */
export function readLabels(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new UsageError(`cannot read --labels ${path}: ${(cause as Error).message}`, { cause });
  }
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Checks the flags of `tsm predict`.
 * @throws {UsageError} naming the flag
 */
export function parsePredictFlags(inputs: readonly string[], raw: RawFlags): PredictCommandOptions {
  const f = mergeSnakeAliases({ ...raw });
  const weights = strFlag(f, 'weights');
  if (!weights) throw new UsageError('missing --weights FILE (a zoo name, a URL, a .pth or an exported .onnx path)');
  const crops = intFlag('--test-crops', strFlag(f, 'testCrops') ?? '1', 1);
  if (![1, 3, 5, 10].includes(crops)) throw UsageError.expected('--test-crops', 'one of 1, 3, 5, 10', strFlag(f, 'testCrops'));
  const shard = strFlag(f, 'shard') === undefined ? undefined : parseShard(strFlag(f, 'shard') as string);
  const output = strFlag(f, 'output');
  if (shard && !output) throw new UsageError('--shard writes a partial score file: pass --output DIR (the same folder for every shard), then tsm merge-scores DIR');
  if (strFlag(f, 'labels') && strFlag(f, 'dataset')) throw new UsageError('pass --labels FILE or --dataset NAME, not both');
  return {
    inputs,
    weights,
    ...(strFlag(f, 'testSegments') === undefined ? {} : { testSegments: intFlag('--test-segments', strFlag(f, 'testSegments') as string, 1) }),
    overrides: parseModelFlags(f, { segments: false }),
    ...(strFlag(f, 'labels') === undefined ? {} : { labels: readLabels(strFlag(f, 'labels') as string), labelsFile: strFlag(f, 'labels') }),
    testCrops: crops as TestCrops,
    fullRes: f.fullRes === true,
    twiceSample: f.twiceSample === true,
    denseSample: f.denseSample === true,
    ...(strFlag(f, 'inputSize') === undefined ? {} : { inputSize: intFlag('--input-size', strFlag(f, 'inputSize') as string, 1) }),
    topK: intFlag('--top-k', strFlag(f, 'topK') ?? '5', 1),
    batchSize: intFlag('--batch-size', strFlag(f, 'batchSize') ?? '4', 1),
    tmpl: strFlag(f, 'tmpl'),
    shard,
    output,
    json: f.json === true,
    dataset: strFlag(f, 'dataset'),
    rootPath: strFlag(f, 'rootPath'),
    device: parseDevice(strFlag(f, 'device') ?? 'cpu'),
    threads: intFlag('--threads', strFlag(f, 'threads') ?? '0', 0),
  };
}

/**
 * Class names for a model: `--dataset`'s categories; else, when the file name names a built-in dataset with a
 * category file and the dataset root is known, that dataset's; else none, and predict() uses the model's own (a
 * checkpoint's recorded categories, a zoo dataset's shipped names) or `class <i>`.
 */
function datasetLabels(opts: PredictCommandOptions, note: (m: string) => void, describe: (err: TsmError) => string): string[] | undefined {
  const named = opts.dataset ?? parseCheckpointName(opts.weights).dataset;
  if (!named) return undefined;
  try {
    const ds = resolveDataset(named, 'RGB', { rootPath: opts.rootPath });
    if (ds.categories.every((c) => c === null)) return undefined;
    return ds.categories.map((c, i) => c ?? `class ${i}`);
  } catch (err) {
    // only an explicit --dataset must resolve; the file name's dataset is a best effort
    if (opts.dataset !== undefined) throw err;
    // a zoo dataset's names ship with the package (predict() finds them from the file name)
    if (err instanceof TsmError && named in DATASETS && !Object.hasOwn(ZOO_DATASETS, named)) {
      note(`no class names: ${describe(err)}; pass --labels FILE or --dataset with --root-path`);
    }
    return undefined;
  }
}

/** The text output: each input, then its classes with probabilities. */
export function formatPredictions(predictions: readonly Prediction[]): string {
  return predictions
    .map((p) => [p.input, ...p.top.map((c) => `  ${(100 * c.probability).toFixed(2).padStart(6)}%  ${c.label}`)].join('\n'))
    .join('\n');
}

/**
 * Runs `tsm predict` with parsed options.
 * @param describe how a library error reads on this command line (its options as flags)
 */
export async function runPredict(opts: PredictCommandOptions, describe: (err: TsmError) => string = (err) => err.message): Promise<void> {
  if (opts.output !== undefined) await checkOutputPath(opts.output, { kind: 'folder', flag: '--output' });
  const note = (m: string): void => void process.stderr.write(`note: ${m}\n`);
  const warn = (m: string): void => void process.stderr.write(`warning: ${m}\n`);
  const labels = opts.labels ?? datasetLabels(opts, note, describe);
  const labelsSource =
    opts.labelsFile !== undefined ? `--labels ${opts.labelsFile}` : opts.labels === undefined && opts.dataset !== undefined ? `the categories of --dataset ${opts.dataset}` : undefined;
  const bar = evaluationBar('predicting', false);
  const onProgress = (e: PredictEvent): void => {
    if (e.status === 'model' && !opts.json) process.stderr.write(`=> ${e.summary} (${e.path})\n`);
    else if (e.status === 'weights' && describeWeightsEvent(e.event)) process.stderr.write(`=> ${describeWeightsEvent(e.event)}\n`);
    else if (e.status === 'progress' && opts.inputs.length > 1) bar.update(e.done, e.total, { vps: e.videosPerSecond });
  };
  const { inputs, json, output, dataset: _d, rootPath: _r, labelsFile: _l, ...rest } = opts;
  let result;
  try {
    result = await predict(inputs, { ...rest, labels, labelsSource, onProgress, onNote: note });
  } finally {
    bar.stop();
  }
  const n = result.scores.meta.numClass;
  const bad = result.scores.meta.videos.filter((_, r) => result.scores.scores.subarray(r * n, (r + 1) * n).some((p) => !Number.isFinite(p)));
  if (bad.length > 0) {
    // decoded frames are always finite, so the checkpoint's weights hold the NaN or infinite values
    warn(`the probabilities of ${bad.length} of ${result.scores.meta.videos.length} input(s) are not numbers (${bad.slice(0, 3).map((v) => v.id).join(', ')}${bad.length > 3 ? ', ...' : ''}); the checkpoint ${opts.weights} may hold NaN or infinite weights`);
  }
  if (output) {
    const path = await writeScoreSet(output, result.scores);
    process.stderr.write(`wrote scores ${path}${opts.shard ? `; merge the shards with: tsm merge-scores ${output}` : ''}\n`);
  }
  if (json) {
    const doc = { weights: result.model.path, model: result.model.summary, protocol: result.protocol, predictions: result.predictions };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else {
    process.stderr.write(`=> ${describeTestProtocol(result.protocol)}\n`);
    process.stdout.write(`${formatPredictions(result.predictions)}\n`);
  }
}

/** Registers `tsm predict`. */
export const registerPredict: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('predict')
    .description('Predict the classes of video files and frame folders with a TSM checkpoint (top-k labels and probabilities)')
    .argument('<inputs...>', 'video files (decoded with ffmpeg) and folders of frames (img_00001.jpg, ...)')
    .requiredOption('--weights <file>', 'checkpoint: a zoo name, a URL or a .pth path (configured by its file name), or an .onnx from tsm export (any precision)')
    .option('--top-k <k>', 'classes to list per input', '5')
    .option('--json', 'print JSON: { weights, model, protocol, predictions: [{ input, top: [{ index, label, probability }] }] }')
    .option('--labels <file>', 'class names, one per line in class order')
    .option('--dataset <name>', 'take class names from this dataset (a name with --root-path, or a dataset folder)')
    .option('--root-path <dir>', 'dataset root for --dataset (default: $TSM_DATA_ROOT)')
    .option('--test-segments <n>', 'segments per clip (default: segment<N> in the file name)')
    .option('--test-crops <n>', 'crops per frame: 1, 3, 5 or 10', '1')
    .option('--full-res', 'crops of the scale size (256) instead of the input size (224)')
    .option('--twice-sample', 'two clips: segment centres and segment starts')
    .option('--dense-sample', 'ten dense 64-frame clips')
    .option('--input-size <n>', 'crop size (default: the model\'s, 224)')
    .option('--batch-size <n>', 'inputs per model run', '4')
    .option('--tmpl <template>', 'frame names in frame folders, e.g. img_{:05d}.jpg (default: detected)')
    .option('--shard <i/n>', 'predict only every n-th input, starting at i (needs --output)')
    .option('--output <dir>', 'write the probabilities as a score file (scores.json + scores.npy) into this folder');
  addModelFlags(cmd, { segments: false })
    .option('--device <device>', 'cpu, cuda, ... (Node only)', 'cpu')
    .option('--threads <n>', 'onnxruntime threads (0 = its default)', '0');
  addModelFlagAliases(cmd, { segments: false });
  // predict() loads the checkpoint with testSegments as the TSN's numSegments
  aliasOptions(cmd, { numSegments: '--test-segments' });
  addSnakeAliases(cmd, ['top-k <k>', 'root-path <dir>', 'test-segments <n>', 'test-crops <n>', 'full-res', 'twice-sample', 'dense-sample', 'input-size <n>', 'batch-size <n>']);
  cmd.action(async (inputs: string[], flags: RawFlags) => {
    await runPredict(parsePredictFlags(inputs, flags), (err) => flagMessage(err.message, err.options, cmd));
  });
};
