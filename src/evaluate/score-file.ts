/**
 * Score files: the scores of a run (or of one shard of it) as `<stem>.npy` (float32 `[N, num_class]`) beside
 * `<stem>.json` (which videos, their labels, the run that made them), so shards can be merged and ensembles
 * recombined later without running any model. Node only (file I/O), except {@link mergeScoreSets}.
 */
import { createHash } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { readNpy, writeNpy } from '../checkpoint/npy.js';
import { DataError, UsageError } from '../errors.js';
import { hostTensor } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { combineScores } from './aggregate.js';
import { type ResolvedProtocol, describeTestProtocol } from './protocol.js';
import { type Shard, shardTag } from './shard.js';

/** The `format` field of every score file this version writes. */
export const SCORES_FORMAT = 'tsm-scores/1';

/** One scored video (or input, for `predict`). */
export interface ScoredVideo {
  /** Position in the run's full list (after `--max-num` and dropping too-short videos), from 0. */
  readonly index: number;
  /** The list's path of the video, or the input as given to `predict`. */
  readonly id: string;
  /** True class; -1 when unknown (`predict`). */
  readonly label: number;
}

/** One model of a run. */
export interface ScoreModel {
  /** File name of the checkpoint. */
  readonly weights: string;
  readonly segments: number;
  /** Ensemble coefficient (`--coeff`). */
  readonly coeff: number;
  /** File name of the list it was tested on (none for `predict`). */
  readonly list?: string;
}

/** What produced a set of scores. Two score files with equal runs come from the same command. */
export type ScoreRun =
  | {
      readonly kind: 'test' | 'predict';
      /** Dataset name (`somethingv2` decides the CSV format), or null. */
      readonly dataset: string | null;
      readonly models: readonly ScoreModel[];
      readonly protocol: ResolvedProtocol;
      /** `--max-num`, or null for the whole list. */
      readonly maxNum: number | null;
    }
  | {
      /** Scores recombined by `tsm merge-scores` from runs on the same videos. */
      readonly kind: 'ensemble';
      readonly parts: readonly { readonly coeff: number; readonly runId: string; readonly run: ScoreRun }[];
    };

/** The JSON half of a score file. */
export interface ScoreMeta {
  readonly format: typeof SCORES_FORMAT;
  /** 16 hex digits of sha256 over `run`: shards of one command share it. */
  readonly runId: string;
  readonly run: ScoreRun;
  readonly numClass: number;
  /** Class names (null where the dataset has only a count). */
  readonly categories: readonly (string | null)[];
  /** `logits` (view-averaged) or `probabilities` (`--softmax`, and always for `predict`). */
  readonly scoreType: 'logits' | 'probabilities';
  /** Videos in the whole run, over all shards. */
  readonly total: number;
  /** The shard these scores cover, or null for the whole run. */
  readonly shard: Shard | null;
  /** The videos of the rows, in row order. */
  readonly videos: readonly ScoredVideo[];
}

/** Scores with their description: `scores` is `[meta.videos.length, meta.numClass]` row-major. */
export interface ScoreSet {
  readonly meta: ScoreMeta;
  readonly scores: Float32Array;
}

/** The runId of a run: 16 hex digits of sha256 of its JSON. */
export const runIdOf = (run: ScoreRun): string => createHash('sha256').update(JSON.stringify(run)).digest('hex').slice(0, 16);

/** File stem of a score file: `scores`, or `scores.shard-2-of-8` for a shard. */
export const scoreFileStem = (shard?: Shard | null): string => (shard ? `scores.${shardTag(shard)}` : 'scores');

/**
 * Writes `<dir>/<stem>.npy` and `<dir>/<stem>.json` (each atomically).
 * @param stem @default scoreFileStem(set.meta.shard)
 * @returns the path of the JSON file
 */
export async function writeScoreSet(dir: string, set: ScoreSet, stem = scoreFileStem(set.meta.shard)): Promise<string> {
  const { meta, scores } = set;
  await writeNpy(join(dir, `${stem}.npy`), hostTensor('float32', [meta.videos.length, meta.numClass], scores));
  const json = join(dir, `${stem}.json`);
  await writeFileAtomic(json, `${JSON.stringify({ ...meta, scoresFile: `${stem}.npy` }, null, 1)}\n`);
  return json;
}

/**
 * Reads a score file (the `.json`, or the `.npy` beside it).
 * @throws {DataError} naming the file when it is not a score file or its halves disagree
 */
export async function readScoreSet(path: string): Promise<ScoreSet> {
  const json = path.endsWith('.npy') ? `${path.slice(0, -4)}.json` : path;
  let meta: ScoreMeta & { scoresFile?: string };
  try {
    meta = JSON.parse(await readFile(json, 'utf8')) as ScoreMeta & { scoresFile?: string };
  } catch (cause) {
    throw new DataError(`cannot read score file ${json}: ${(cause as Error).message}`, { cause });
  }
  if (meta?.format !== SCORES_FORMAT) throw new DataError(`${json} is not a score file: "format" is ${JSON.stringify(meta?.format)}, expected "${SCORES_FORMAT}" (write one with tsm test --output DIR)`);
  if (!Array.isArray(meta.videos) || !Number.isInteger(meta.numClass) || !Number.isInteger(meta.total)) throw new DataError(`${json}: missing "videos", "numClass" or "total"`);
  const npyPath = join(dirname(json), meta.scoresFile ?? `${basename(json, '.json')}.npy`);
  const t = await readNpy(npyPath).catch((cause: Error) => {
    throw new DataError(`cannot read the scores of ${json}: ${cause.message}`, { cause });
  });
  if (t.dtype !== 'float32' || t.shape.length !== 2 || t.shape[0] !== meta.videos.length || t.shape[1] !== meta.numClass) {
    throw new DataError(`${npyPath} holds ${t.dtype} [${t.shape.join(',')}] but ${json} describes float32 [${meta.videos.length},${meta.numClass}]`);
  }
  const { scoresFile: _file, ...rest } = meta;
  return { meta: rest, scores: t.data as Float32Array };
}

/** A score file's JSON by name: `scores.json` or `scores.shard-<i>-of-<n>.json`. */
const SCORE_JSON = /^scores(\.shard-\d+-of-\d+)?\.json$/;

/**
 * The score files named by `inputs`: a `.json` or `.npy` file is taken as is; a folder gives its shard files
 * (`scores.shard-*.json`) when it has any, else its `scores.json` (so merging into the folder the shards sit in
 * does not pick the merged file up again).
 * @throws {UsageError} for an input that does not exist or a folder without score files
 */
export async function findScoreFiles(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const input of inputs) {
    const st = await stat(input).catch(() => undefined);
    if (!st) throw new UsageError(`score input ${input} does not exist; pass score files (scores*.json) or folders holding them`);
    if (st.isFile()) {
      out.push(resolve(input));
      continue;
    }
    const names = (await readdir(input)).filter((n) => SCORE_JSON.test(n)).sort(byShard);
    const shards = names.filter((n) => n.includes('.shard-'));
    const picked = shards.length > 0 ? shards : names;
    if (picked.length === 0) throw new UsageError(`folder ${input} holds no score files (scores.json or scores.shard-<i>-of-<n>.json)`);
    out.push(...picked.map((n) => resolve(input, n)));
  }
  return out;
}

/** Orders shard file names by shard index (numerically). */
function byShard(a: string, b: string): number {
  const n = (s: string) => Number(/shard-(\d+)-/.exec(s)?.[1] ?? -1);
  return n(a) - n(b) || (a < b ? -1 : a > b ? 1 : 0);
}

/** Options of {@link mergeScoreSets}. */
export interface MergeScoresOptions {
  /** One coefficient per run (in the order runs first appear), as `--coeff`. @default all 1 */
  readonly coeff?: readonly number[];
  /** Names of the sets, for messages (file paths). */
  readonly names?: readonly string[];
}

/**
 * Merges score sets: the shards of each run are put back in list order (each run must be complete, every shard
 * once), then several runs on the same videos are combined as test_models.py combines an ensemble,
 * `sum(coeff_i * scores_i) / n`. One complete run comes back with its own description, so merging the n shards of
 * a `tsm test` run gives exactly what the unsharded run gives.
 * @throws {UsageError} for missing or repeated shards, shards of different runs given as one run, runs over
 *   different videos or class counts, or a coefficient count that does not match the runs
 */
export function mergeScoreSets(sets: readonly ScoreSet[], opts: MergeScoresOptions = {}): ScoreSet {
  if (sets.length === 0) throw new UsageError('nothing to merge: no score files');
  const names = opts.names ?? sets.map((_, i) => `score set ${i}`);
  const groups = new Map<string, number[]>();
  sets.forEach((s, i) => {
    const g = groups.get(s.meta.runId);
    if (g) g.push(i);
    else groups.set(s.meta.runId, [i]);
  });
  checkShardsAgree([...groups.values()], sets, names);
  const runs = [...groups.values()].map((members) => assembleRun(members.map((i) => sets[i]), members.map((i) => names[i])));
  const coeff = opts.coeff ?? runs.map(() => 1);
  if (coeff.length !== runs.length) {
    throw new UsageError(`${coeff.length} coefficients (coeff) for ${runs.length} runs (${runs.map((r) => r.meta.runId).join(', ')}); give one per run, in the order their files are listed`, { options: ['coeff'] });
  }
  if (runs.length === 1 && coeff[0] === 1) return runs[0];
  const first = runs[0].meta;
  runs.forEach((r, k) => {
    const m = r.meta;
    if (m.numClass !== first.numClass) throw new UsageError(`cannot combine run ${m.runId} (${m.numClass} classes) with run ${first.runId} (${first.numClass} classes)`);
    if (m.total !== first.total) throw new UsageError(`cannot combine run ${m.runId} (${m.total} videos) with run ${first.runId} (${first.total} videos): an ensemble's runs must cover the same videos`);
    const bad = m.videos.findIndex((v, i) => v.label !== first.videos[i].label);
    if (bad >= 0) {
      throw new UsageError(`cannot combine run ${m.runId} with run ${first.runId}: video ${bad} is ${m.videos[bad].id} (label ${m.videos[bad].label}) in one and ${first.videos[bad].id} (label ${first.videos[bad].label}) in the other (run ${k})`);
    }
  });
  const run: ScoreRun = { kind: 'ensemble', parts: runs.map((r, k) => ({ coeff: coeff[k], runId: r.meta.runId, run: r.meta.run })) };
  const scoreType = runs.every((r) => r.meta.scoreType === 'probabilities') ? 'probabilities' : 'logits';
  return {
    meta: { ...first, format: SCORES_FORMAT, runId: runIdOf(run), run, scoreType, shard: null },
    scores: combineScores(runs.map((r) => r.scores), coeff),
  };
}

/** Whether the shard files of one run (indices into `sets`) leave some of its shards out. */
function isIncomplete(members: readonly number[], sets: readonly ScoreSet[]): boolean {
  const first = sets[members[0]].meta.shard;
  if (first === null) return false;
  const have = new Set(members.map((i) => sets[i].meta.shard?.index));
  return have.size < first.count;
}

const describeProtocol = (p: ResolvedProtocol): string => `${describeTestProtocol(p)}${p.inputSize === undefined ? '' : `, ${p.inputSize} px`}`;

const describeModels = (run: ScoreRun): string =>
  run.kind === 'ensemble' ? `an ensemble of ${run.parts.length} runs` : run.models.map((m) => `${m.weights} (${m.segments} segments)`).join(' + ');

/** How two score files' runs differ, field by field, in words. */
function runDifferences(a: ScoreMeta, b: ScoreMeta): string[] {
  const out: string[] = [];
  const same = (x: unknown, y: unknown) => JSON.stringify(x) === JSON.stringify(y);
  if (!same(a.run.kind, b.run.kind)) out.push(`kind: ${a.run.kind} vs ${b.run.kind}`);
  if (describeModels(a.run) !== describeModels(b.run)) out.push(`model: ${describeModels(a.run)} vs ${describeModels(b.run)}`);
  if (a.numClass !== b.numClass) out.push(`class count: ${a.numClass} vs ${b.numClass}`);
  if (a.run.kind !== 'ensemble' && b.run.kind !== 'ensemble') {
    if (!same(a.run.protocol, b.run.protocol)) {
      const [pa, pb] = [describeProtocol(a.run.protocol), describeProtocol(b.run.protocol)];
      out.push(pa === pb ? `protocol: ${JSON.stringify(a.run.protocol)} vs ${JSON.stringify(b.run.protocol)}` : `protocol: ${pa} vs ${pb}`);
    }
    if (a.run.dataset !== b.run.dataset) out.push(`dataset: ${a.run.dataset} vs ${b.run.dataset}`);
    if (!same(a.run.models.map((m) => m.list), b.run.models.map((m) => m.list))) out.push(`list: ${a.run.models.map((m) => m.list ?? 'none').join(', ')} vs ${b.run.models.map((m) => m.list ?? 'none').join(', ')}`);
    if (a.run.maxNum !== b.run.maxNum) out.push(`max videos: ${a.run.maxNum ?? 'all'} vs ${b.run.maxNum ?? 'all'}`);
  }
  if (a.total !== b.total) out.push(`videos: ${a.total} vs ${b.total}`);
  if (a.scoreType !== b.scoreType) out.push(`scores: ${a.scoreType} vs ${b.scoreType}`);
  if (out.length === 0) out.push(`run ${a.runId} vs ${b.runId}`);
  return out;
}

/**
 * Refuses shard files of different runs given as the pieces of one: when two runs each lack shards, the files
 * were meant to fit together, so the message names two of them and how their runs differ (rather than calling
 * each run incomplete).
 */
function checkShardsAgree(groups: readonly (readonly number[])[], sets: readonly ScoreSet[], names: readonly string[]): void {
  const partial = groups.filter((members) => isIncomplete(members, sets));
  if (partial.length < 2) return;
  const [i, j] = [partial[0][0], partial[1][0]];
  const [a, b] = [sets[i].meta, sets[j].meta];
  const shard = (m: ScoreMeta) => `shard ${m.shard?.index}/${m.shard?.count}`;
  throw new UsageError(
    `the shards disagree: ${names[i]} (${shard(a)}) and ${names[j]} (${shard(b)}) come from different runs (${runDifferences(a, b).join('; ')}); ` +
      'merge only the shards of one tsm test / tsm predict command (same weights, class count, protocol and list), or give every shard of each run to combine them as an ensemble',
  );
}

/** Puts the shards of one run back together (or returns a complete set as is). */
function assembleRun(sets: readonly ScoreSet[], names: readonly string[]): ScoreSet {
  const first = sets[0].meta;
  if (sets.length === 1 && first.shard === null) return sets[0];
  const whole = sets.findIndex((s) => s.meta.shard === null);
  if (whole >= 0) throw new UsageError(`${names[whole]} holds all of run ${first.runId}, and ${sets.length - 1} more file(s) hold parts of it: pass either the complete file or the shards`);
  const count = first.shard?.count ?? 1;
  const seen = new Map<number, string>();
  sets.forEach((s, k) => {
    const sh = s.meta.shard as Shard;
    if (sh.count !== count) throw new UsageError(`${names[k]} is shard ${sh.index}/${sh.count} but ${names[0]} is shard ${first.shard?.index}/${count} of the same run`);
    if (seen.has(sh.index)) throw new UsageError(`shard ${sh.index}/${count} of run ${first.runId} is given twice: ${seen.get(sh.index)} and ${names[k]}`);
    seen.set(sh.index, names[k]);
  });
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
  if (missing.length > 0) {
    throw new UsageError(`run ${first.runId} is incomplete: shard(s) ${missing.map((i) => `${i}/${count}`).join(', ')} missing (have ${[...seen.keys()].sort((a, b) => a - b).map((i) => `${i}/${count}`).join(', ')})`);
  }
  const n = first.numClass;
  const scores = new Float32Array(first.total * n);
  const videos: (ScoredVideo | undefined)[] = new Array(first.total);
  sets.forEach((s, k) => {
    s.meta.videos.forEach((v, r) => {
      if (!(v.index >= 0 && v.index < first.total) || videos[v.index]) throw new UsageError(`${names[k]}: video ${v.id} has position ${v.index}, outside [0, ${first.total}) or already covered by another shard`);
      videos[v.index] = v;
      scores.set(s.scores.subarray(r * n, (r + 1) * n), v.index * n);
    });
  });
  const gap = videos.findIndex((v) => v === undefined);
  if (gap >= 0) throw new UsageError(`run ${first.runId}: no shard holds video position ${gap} of ${first.total}`);
  return { meta: { ...first, shard: null, videos: videos as ScoredVideo[] }, scores };
}
