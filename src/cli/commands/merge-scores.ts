/**
 * `tsm merge-scores INPUT... [--coeff C,...] [--output DIR] [--csv-file F]`: puts the shards of `tsm test` /
 * `tsm predict` runs back together (`--shard i/n` score files) and combines runs on the same videos as an ensemble,
 * then reports exactly what one unsharded run reports.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import { computeMetrics, findScoreFiles, mergeScoreSets, readScoreSet, topPredictions, writeScoreSet } from '../../evaluate/index.js';
import { addSnakeAliases, mergeSnakeAliases } from './data-common.js';
import { checkOutputPaths } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { type RawFlags, intFlag, strFlag } from './model-flags.js';
import { formatPredictions } from './predict.js';
import { commaList, reportResults } from './test.js';

/** Parsed options of `tsm merge-scores`. */
export interface MergeScoresCommandOptions {
  readonly inputs: readonly string[];
  readonly coeff?: readonly number[];
  readonly output: string;
  readonly csvFile?: string;
  readonly topK: number;
  readonly json: boolean;
}


/**
 * Checks the flags; `--output` defaults to the input folder when there is exactly one.
 * @throws {UsageError} naming the flag
 */
export async function parseMergeScoresFlags(inputs: readonly string[], raw: RawFlags): Promise<MergeScoresCommandOptions> {
  const f = mergeSnakeAliases({ ...raw });
  const coeffText = strFlag(f, 'coeff');
  const coeff = coeffText === undefined ? undefined : commaList(coeffText).map((s) => {
    const c = Number(s);
    if (!Number.isFinite(c)) throw UsageError.expected('--coeff', 'numbers', s);
    return c;
  });
  let output = strFlag(f, 'output');
  if (output === undefined) {
    const only = inputs.length === 1 ? await stat(inputs[0]).catch(() => undefined) : undefined;
    if (!only?.isDirectory()) throw new UsageError('pass --output DIR for the merged scores and report (it defaults to the input folder only when one folder is given)');
    output = inputs[0];
  }
  return { inputs, coeff, output, csvFile: strFlag(f, 'csvFile'), topK: intFlag('--top-k', strFlag(f, 'topK') ?? '5', 1), json: f.json === true };
}

/** Runs `tsm merge-scores` with parsed options. */
export async function runMergeScores(opts: MergeScoresCommandOptions): Promise<void> {
  await checkOutputPaths([[opts.output, 'folder', '--output'], [opts.csvFile, 'file', '--csv-file']]);
  const files = await findScoreFiles(opts.inputs);
  const sets = await Promise.all(files.map((p) => readScoreSet(p)));
  const merged = mergeScoreSets(sets, { coeff: opts.coeff, names: files });
  const path = await writeScoreSet(opts.output, merged);
  const runs = new Set(sets.map((s) => s.meta.runId)).size;
  process.stderr.write(`=> merged ${files.length} score file(s) of ${runs} run(s): ${merged.meta.videos.length} videos\n`);
  (opts.json ? process.stderr : process.stdout).write(`wrote scores ${path}\n`);
  const { meta, scores } = merged;
  if (meta.videos.some((v) => v.label < 0)) {
    // predictions: no labels, so no metrics
    const predictions = topPredictions(merged, opts.topK);
    if (opts.csvFile) throw new UsageError('--csv-file needs a test run (videos with labels); these scores come from tsm predict');
    process.stdout.write(opts.json ? `${JSON.stringify({ predictions }, null, 2)}\n` : `${formatPredictions(predictions)}\n`);
    return;
  }
  const metrics = computeMetrics(scores, meta.videos.map((v) => v.label), meta.numClass, meta.categories);
  const notes = [`merged from ${files.length} score file(s) of ${runs} run(s), ${metrics.numVideos} videos`];
  await reportResults(merged, metrics, opts.output, opts.csvFile, notes);
}

/** Registers `tsm merge-scores`. */
export const registerMergeScores: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('merge-scores')
    .description('Merge the score files of sharded runs (--shard i/n) and combine runs on the same videos as an ensemble; report the metrics')
    .argument('<inputs...>', 'score files (scores*.json) or folders holding them (a folder gives its shard files)')
    .option('--coeff <list>', 'one coefficient per run, in the order runs first appear (default 1 each); scores are sum(coeff*score)/runs')
    .option('--output <dir>', 'folder for the merged scores and report (default: the input folder, when one folder is given)')
    .option('--csv-file <file>', 'write the submission CSV: video;class (Something-Something v2: video;five class indices)')
    .option('--top-k <k>', 'classes listed per input, for predict scores', '5')
    .option('--json', 'print predictions as JSON (predict scores)');
  addSnakeAliases(cmd, ['csv-file <file>', 'top-k <k>']);
  cmd.action(async (inputs: string[], flags: RawFlags) => {
    await runMergeScores(await parseMergeScoresFlags(inputs, flags));
  });
};
