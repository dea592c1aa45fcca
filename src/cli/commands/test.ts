/**
 * `tsm test DATASET --weights W[,W...] [--test-segments N[,N...]] [--test-crops 1|3|5|10] [--full-res]
 * [--twice-sample | --dense-sample] [--softmax] [--coeff C[,C...]] [--batch-size B] [-j N] [--max-num N]
 * [--test-list L[,L...]] [--csv-file F] [--input-size S] [--crop-fusion-type avg|identity] [--root-path DIR]
 * [--shard i/n] [--output DIR]`: the original test_models.py. Its snake_case flags (`--test_segments`, ...) work
 * too, so the original README's commands run with `tsm test` in place of `python test_models.py`.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import {
  type EvaluateEvent,
  type Metrics,
  type ScoreSet,
  type Shard,
  type TestCrops,
  type TestModelSpec,
  type TestProtocol,
  describeTestProtocol,
  evaluate,
  formatClassTable,
  formatSummary,
  parseShard,
  submissionCsv,
  writeReport,
  writeScoreSet,
} from '../../evaluate/index.js';
import { CONSENSUS_TYPES, type ConsensusType } from '../../models/consensus.js';
import type { TsnOverrides } from '../../models/load.js';
import { type Device, parseDevice } from '../../runtime/index.js';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { checkOutputPaths } from '../../util/output-path.js';
import { addSnakeAliases, mergeSnakeAliases } from './data-common.js';
import type { RegisterCommand } from './index.js';
import { type RawFlags, addModelFlagAliases, addModelFlags, intFlag, oneOfFlag, parseModelFlags, strFlag } from './model-flags.js';
import { aliasOptions } from '../option-flags.js';
import { describeWeightsEvent } from './weights.js';

/** Parsed options of `tsm test`. */
export interface TestCommandOptions {
  readonly dataset: string;
  readonly models: readonly TestModelSpec[];
  readonly protocol: TestProtocol;
  readonly batchSize: number;
  readonly workers: number;
  /** 0 for all videos. */
  readonly maxNum: number;
  readonly rootPath?: string;
  readonly csvFile?: string;
  readonly shard?: Shard;
  /** Folder for score files and the report. */
  readonly output: string;
  readonly device: Device;
  readonly threads: number;
}

/** Where `tsm test` writes when `--output` is not given. */
export const DEFAULT_TEST_OUTPUT = 'tsm-test-results';

/** A comma list: `a,b` → ['a', 'b'] (empty items dropped). */
export const commaList = (v: string): string[] => v.split(',').map((s) => s.trim()).filter((s) => s !== '');


/** One value per weight: a list of that length, or one value for all. */
function perWeight<T>(flag: string, raw: string | undefined, n: number, parse: (s: string) => T): T[] | undefined {
  if (raw === undefined) return undefined;
  const items = commaList(raw).map(parse);
  if (items.length === n) return items;
  if (items.length === 1 && flag !== '--coeff') return new Array<T>(n).fill(items[0]);
  throw new UsageError(`${flag} has ${items.length} values for ${n} weights; give one per --weights entry, in the same order${flag === '--coeff' ? '' : ' (or one for all)'}`);
}

/**
 * Checks the flags of `tsm test` (snake_case spellings already folded into camelCase).
 * @throws {UsageError} naming the flag
 */
export function parseTestFlags(dataset: string, raw: RawFlags): TestCommandOptions {
  const f = mergeSnakeAliases({ ...raw });
  const weights = commaList(strFlag(f, 'weights') ?? '');
  if (weights.length === 0) throw new UsageError('missing --weights FILE[,FILE...] (zoo names, URLs, .pth or exported .onnx paths)');
  const n = weights.length;
  const segments = perWeight('--test-segments', strFlag(f, 'testSegments'), n, (s) => intFlag('--test-segments', s, 1));
  const coeff = perWeight('--coeff', strFlag(f, 'coeff'), n, (s) => {
    const c = Number(s);
    if (!Number.isFinite(c)) throw UsageError.expected('--coeff', 'numbers', s);
    return c;
  });
  const lists = perWeight('--test-list', strFlag(f, 'testList'), n, (s) => s);
  const overrides: { -readonly [K in keyof TsnOverrides]: TsnOverrides[K] } = { ...parseModelFlags(f, { segments: false, consensus: false }) };
  const fusion = strFlag(f, 'cropFusionType');
  if (fusion !== undefined) overrides.consensusType = oneOfFlag<ConsensusType>('--crop-fusion-type', fusion, CONSENSUS_TYPES);
  const crops = intFlag('--test-crops', strFlag(f, 'testCrops') ?? '1', 1);
  if (![1, 3, 5, 10].includes(crops)) throw UsageError.expected('--test-crops', 'one of 1, 3, 5, 10', strFlag(f, 'testCrops'));
  const maxNum = Number(strFlag(f, 'maxNum') ?? '-1');
  if (!Number.isInteger(maxNum)) throw UsageError.expected('--max-num', 'an integer (-1 for all videos)', strFlag(f, 'maxNum'));
  const shard = strFlag(f, 'shard') === undefined ? undefined : parseShard(strFlag(f, 'shard') as string);
  const csvFile = strFlag(f, 'csvFile');
  if (shard && csvFile) throw new UsageError('--csv-file needs every video: write it when merging the shards (tsm merge-scores DIR --csv-file FILE)');
  return {
    dataset,
    models: weights.map((w, k) => ({
      weights: w,
      ...(segments ? { testSegments: segments[k] } : {}),
      ...(coeff ? { coeff: coeff[k] } : {}),
      ...(lists ? { testList: lists[k] } : {}),
      overrides,
    })),
    protocol: {
      testCrops: crops as TestCrops,
      fullRes: f.fullRes === true,
      twiceSample: f.twiceSample === true,
      denseSample: f.denseSample === true,
      softmax: f.softmax === true,
      ...(strFlag(f, 'inputSize') === undefined ? {} : { inputSize: intFlag('--input-size', strFlag(f, 'inputSize') as string, 1) }),
    },
    batchSize: intFlag('--batch-size', strFlag(f, 'batchSize') ?? '1', 1),
    workers: intFlag('--workers', strFlag(f, 'workers') ?? String(defaultWorkers()), 0),
    maxNum: maxNum > 0 ? maxNum : 0,
    rootPath: strFlag(f, 'rootPath'),
    csvFile,
    shard,
    output: strFlag(f, 'output') ?? DEFAULT_TEST_OUTPUT,
    device: parseDevice(strFlag(f, 'device') ?? 'cpu'),
    threads: intFlag('--threads', strFlag(f, 'threads') ?? '0', 0),
  };
}

/** Loader workers by default: the original's 8, or fewer on a smaller machine. */
const defaultWorkers = (): number => Math.max(1, Math.min(8, availableParallelism() - 1));

/** A bar on stderr with the running top-1 and videos/s (drawn only on a terminal). */
export function evaluationBar(label: string, withAccuracy = true): { update(done: number, total: number, payload: { top1?: number; vps: number }): void; stop(): void } {
  const acc = withAccuracy ? ' | top-1 {top1}%' : '';
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total}${acc} | {vps} videos/s | ETA {eta_formatted}`, stream: process.stderr, hideCursor: true }, Presets.shades_classic);
  let started = false;
  return {
    update(done, total, p) {
      const payload = { top1: (p.top1 ?? 0).toFixed(2), vps: p.vps.toFixed(2) };
      if (!started) {
        bar.start(total, 0, payload);
        started = true;
      }
      bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Prints the per-class table and test_models.py's closing lines; writes the report and the CSV. */
export async function reportResults(set: ScoreSet, metrics: Metrics, output: string, csvFile: string | undefined, notes: readonly string[]): Promise<void> {
  process.stdout.write(`${formatClassTable(metrics)}\n${formatSummary(metrics)}\n`);
  const files = await writeReport(output, metrics, notes);
  process.stdout.write(`wrote ${files.metrics}, ${files.html}, ${files.png}, ${files.classes}, ${files.confusionNpy}\n`);
  if (csvFile) {
    await writeFileAtomic(csvFile, submissionCsv(set));
    process.stdout.write(`=> Writing result to csv file: ${csvFile}\n`);
  }
}

/** Runs `tsm test` with parsed options: progress on stderr, results on stdout, files under `opts.output`. */
export async function runTest(opts: TestCommandOptions): Promise<void> {
  await checkOutputPaths([[opts.output, 'folder', '--output'], [opts.csvFile, 'file', '--csv-file']]);
  const bar = evaluationBar('testing');
  const onProgress = (e: EvaluateEvent): void => {
    if (e.status === 'model') {
      const part = opts.shard ? ` (shard ${opts.shard.index}/${opts.shard.count} of ${e.total})` : e.dropped > 0 ? ` (${e.dropped} with fewer than 3 frames dropped)` : '';
      process.stderr.write(`=> model ${e.model}: ${e.summary} (${e.path})\n=> ${e.videos} videos${part}\n`);
    } else if (e.status === 'weights' && describeWeightsEvent(e.event)) {
      process.stderr.write(`=> ${describeWeightsEvent(e.event)}\n`);
    } else if (e.status === 'progress') {
      bar.update(e.done, e.total, { top1: e.top1, vps: e.videosPerSecond });
    }
  };
  let result;
  try {
    result = await evaluate({
      dataset: opts.dataset,
      rootPath: opts.rootPath,
      models: opts.models,
      ...opts.protocol,
      batchSize: opts.batchSize,
      workers: opts.workers,
      maxNum: opts.maxNum,
      shard: opts.shard,
      device: opts.device,
      threads: opts.threads,
      onProgress,
      onNote: (m) => process.stderr.write(`note: ${m}\n`),
    });
  } finally {
    bar.stop();
  }
  const scoresPath = await writeScoreSet(opts.output, result.scores);
  const written = [scoresPath];
  if (result.members.length > 1) {
    for (const [k, m] of result.members.entries()) written.push(await writeScoreSet(join(opts.output, 'models', String(k)), m));
  }
  process.stdout.write(`wrote scores ${written.join(', ')}\n`);
  const notes = [
    `dataset ${result.scores.meta.run.kind === 'test' ? result.scores.meta.run.dataset : opts.dataset}, ${result.metrics.numVideos} videos, ${describeTestProtocol(result.protocol)}`,
    ...result.models.map((m, k) => `model ${k}: ${m.summary} (${m.path})${opts.models.length > 1 ? `, coeff ${opts.models[k].coeff ?? 1}` : ''}`),
  ];
  if (opts.shard) {
    const m = result.metrics;
    process.stdout.write(
      `shard ${opts.shard.index}/${opts.shard.count}: ${m.numVideos} videos, Prec@1 ${m.top1.toFixed(2)}% Prec@${m.k} ${m.top5.toFixed(2)}%\n` +
        `merge the shards with: tsm merge-scores ${opts.output}\n`,
    );
    return;
  }
  await reportResults(result.scores, result.metrics, opts.output, opts.csvFile, notes);
}

/** Registers `tsm test`. */
export const registerTest: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('test')
    .description('Test checkpoints on a dataset as test_models.py: top-1/top-5, class accuracy, confusion matrix, score files')
    .argument('<dataset>', 'something, somethingv2, kinetics, jester, ucf101, hmdb51, or a dataset folder with a dataset.json')
    .requiredOption('--weights <list>', 'checkpoints, comma-separated for an ensemble: zoo names, URLs or .pth paths (each configured by its file name), or .onnx files from tsm export (any precision; an online model steps through --test-segments frames, default 8)')
    .option('--test-segments <list>', 'segments per clip, one per weight (default: segment<N> in each file name)')
    .option('--test-crops <n>', 'crops per frame: 1 (centre), 3 (full-res three), 5, 10 (corners+centre, flipped)', '1')
    .option('--full-res', 'crops of the scale size (256) instead of the input size (224), as non-local I3D')
    .option('--twice-sample', 'two clips per video: segment centres and segment starts')
    .option('--dense-sample', 'ten dense 64-frame clips per video (I3D style)')
    .option('--softmax', 'softmax each model\'s view-averaged scores before combining models')
    .option('--coeff <list>', 'ensemble coefficients, one per weight (default 1 each); scores are sum(coeff*score)/models')
    .option('--batch-size <n>', 'videos per batch', '1')
    .option('-j, --workers <n>', 'loader worker threads per model (0 = load on the main thread)')
    .option('--max-num <n>', 'test only the first N videos (-1 = all)', '-1')
    .option('--test-list <list>', 'list files to test on, one per weight or one for all (default: the dataset\'s validation list)')
    .option('--csv-file <file>', 'write the submission CSV: video;class (Something-Something v2: video;five class indices)')
    .option('--input-size <n>', 'crop size; the scale size is input*256/224 (default: the model\'s, 224)')
    .option('--crop-fusion-type <type>', 'consensus of the models: avg | identity (default: file name, else avg)')
    .option('--root-path <dir>', 'dataset root (default: $TSM_DATA_ROOT)')
    .option('--shard <i/n>', 'test only every n-th video, starting at i (0 <= i < n); merge with tsm merge-scores')
    .option('--output <dir>', 'folder for score files, metrics.json, confusion.html/.png, per_class.csv', DEFAULT_TEST_OUTPUT);
  addModelFlags(cmd, { segments: false, consensus: false })
    .option('--device <device>', 'cpu, cuda, ... (Node only)', 'cpu')
    .option('--threads <n>', 'onnxruntime threads (0 = its default)', '0');
  addModelFlagAliases(cmd, { segments: false, consensus: false });
  // the library options (evaluate's, the TSN overrides') these flags set under other names
  aliasOptions(cmd, { models: '--weights', numSegments: '--test-segments', consensusType: '--crop-fusion-type' });
  addSnakeAliases(cmd, ['test-segments <list>', 'test-crops <n>', 'full-res', 'twice-sample', 'dense-sample', 'batch-size <n>', 'max-num <n>', 'test-list <list>', 'csv-file <file>', 'input-size <n>', 'crop-fusion-type <type>', 'root-path <dir>']);
  cmd.action(async (dataset: string, flags: RawFlags) => {
    await runTest(parseTestFlags(dataset, flags));
  });
};
