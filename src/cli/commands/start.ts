/**
 * `tsm start` (`npm start`): the first thing to run on a fresh clone. Generates a few synthetic clips the shipped
 * model has never seen (a new seed), classifies them with the `tsm predict` code path and the model in
 * models/default/, prints each label and probability against the truth and the accuracy, then where to go next.
 * No arguments, no downloads; a few seconds.
 */
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Command } from 'commander';
import { type SyntheticClass, makeSyntheticDataset, parseSyntheticClasses } from '../../data/index.js';
import { DEFAULT_MODEL_DIR, type DefaultModel, readDefaultModel } from '../../deploy/default-model.js';
import { UsageError } from '../../errors.js';
import { predict } from '../../evaluate/index.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { intFlag } from './model-flags.js';

/** Parsed options of `tsm start`. */
export interface StartOptions {
  /** Seed of the new clips. @default a random seed other than the training and test seeds */
  readonly seed?: number;
  /** New clips per class. @default 2 */
  readonly clipsPerClass: number;
  /** Keep the generated frame folders here. @default a temporary folder, removed at the end */
  readonly out?: string;
  /** onnxruntime threads. @default 2 */
  readonly threads: number;
  /** The model folder. @default models/default */
  readonly modelDir?: string;
}

/** One classified clip. */
export interface StartClip {
  readonly clip: string;
  readonly truth: string;
  readonly predicted: string;
  readonly probability: number;
  /** The runner-up class and its probability. */
  readonly second?: { readonly label: string; readonly probability: number };
}

/** What {@link runStart} found. */
export interface StartSummary {
  readonly seed: number;
  readonly clips: readonly StartClip[];
  readonly correct: number;
}

interface StartFlags {
  readonly seed?: string;
  readonly clips: string;
  readonly out?: string;
  readonly threads: string;
}

/** Checks the flags; throws a {@link UsageError} naming the flag. */
export function parseStartFlags(flags: StartFlags): StartOptions {
  return {
    seed: flags.seed === undefined ? undefined : intFlag('--seed', flags.seed, 0),
    clipsPerClass: intFlag('--clips', flags.clips, 1),
    out: flags.out,
    threads: intFlag('--threads', flags.threads, 0),
  };
}

/** A seed that is neither the training set's nor the held-out test set's. */
function freshSeed(model: DefaultModel): number {
  const used = new Set([model.card.dataset.seed, model.card.dataset.testSet.seed]);
  for (;;) {
    const s = randomInt(1000, 2 ** 31 - 1);
    if (!used.has(s)) return s;
  }
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const rel = (p: string): string => (relative(process.cwd(), p).startsWith('..') ? p : relative(process.cwd(), p) || '.');

/**
 * Generates new clips, classifies them with the default model and writes the report to `out`.
 * @throws {UsageError} when models/default has no model card, or the seed is one the model was trained or tested on
 */
export async function runStart(opts: StartOptions, out: NodeJS.WritableStream = process.stdout): Promise<StartSummary> {
  const model = readDefaultModel(opts.modelDir ?? DEFAULT_MODEL_DIR);
  if (!model) throw new UsageError(`no default model in ${rel(opts.modelDir ?? DEFAULT_MODEL_DIR)} (model.json is missing): build it with npm run train:default`);
  const { card } = model;
  const clipModel = card.models.clip;
  const weights = model.file('clip', 'weights');
  if (!clipModel || !weights) throw new UsageError(`${rel(join(model.dir, 'model.json'))} has no clip model: rebuild it with npm run train:default`);
  const seed = opts.seed ?? freshSeed(model);
  if (seed === card.dataset.seed || seed === card.dataset.testSet.seed) {
    throw UsageError.expected('--seed', `a seed other than the training set's (${card.dataset.seed}) and the test set's (${card.dataset.testSet.seed})`, seed);
  }
  const classes: SyntheticClass[] = parseSyntheticClasses(card.classes);

  out.write(`temporal-shift: the built-in default model\n`);
  out.write(`  ${card.summary}\n`);
  out.write(`  ${rel(weights)}\n`);
  out.write(`  held-out top-1 ${clipModel.heldOut.top1.toFixed(2)}% on ${clipModel.heldOut.numVideos} clips (model card: ${rel(join(model.dir, 'model.json'))})\n\n`);

  const dir = opts.out ?? (await mkdtemp(join(tmpdir(), 'tsm-start-')));
  try {
    const made = await makeSyntheticDataset(dir, { classes, clips: opts.clipsPerClass, size: card.dataset.size, frames: card.dataset.frames, seed, valFraction: 0 });
    const records = [...made.train].sort((a, b) => a.label - b.label || (a.path < b.path ? -1 : 1));
    const inputs = records.map((r) => join(dir, 'frames', r.path));
    out.write(`${inputs.length} new clips (seed ${seed}; \`npm start -- --seed ${seed}\` repeats them), ${card.input.numSegments} segments, ${card.input.inputSize} px, classified by tsm predict's code path:\n\n`);
    const result = await predict(inputs, { weights, labels: card.classes, inputSize: card.input.inputSize, topK: 2, batchSize: 8, threads: opts.threads });
    const clips: StartClip[] = result.predictions.map((p, i) => ({
      clip: records[i].path.split('/').pop() ?? records[i].path,
      truth: classes[records[i].label],
      predicted: p.top[0].label,
      probability: p.top[0].probability,
      second: p.top[1] ? { label: p.top[1].label, probability: p.top[1].probability } : undefined,
    }));
    const w = Math.max(...clips.map((c) => c.clip.length), 4) + 2;
    const cw = Math.max(...classes.map((c) => c.length), 10) + 2;
    out.write(`  ${'clip'.padEnd(w)}${'truth'.padEnd(cw)}${'predicted'.padEnd(cw)}probability\n`);
    for (const c of clips) {
      const ok = c.predicted === c.truth;
      const note = ok ? 'ok' : `WRONG${c.second ? ` (then ${c.second.label} ${c.second.probability.toFixed(2)})` : ''}`;
      out.write(`  ${c.clip.padEnd(w)}${c.truth.padEnd(cw)}${c.predicted.padEnd(cw)}${c.probability.toFixed(2).padEnd(13)}${note}\n`);
    }
    const correct = clips.filter((c) => c.predicted === c.truth).length;
    out.write(`\naccuracy: ${correct}/${clips.length} = ${pct(correct / clips.length)}\n`);
    if (opts.out) out.write(`the clips are in ${rel(join(dir, 'frames'))} (npx tsm predict --weights ${rel(weights)} --input-size ${card.input.inputSize} <folder>)\n`);
    out.write(
      [
        '',
        'Next:',
        '  npm run demo:web             the browser demo with the online version of this model (webcam or a video file)',
        '  npx tsm demo --input VIDEO   the same online model in the terminal, frame by frame',
        `  npx tsm predict --weights ${rel(weights)} --input-size ${card.input.inputSize} FOLDER_OR_VIDEO...`,
        '  npm run train:default        rebuild this model from nothing (scripts/train-default.ts)',
        'Read on: README.md ("Fine-tune on your videos", "Run in the browser", "Results: TSM vs TSN, reproduced here", "Benchmarks"),',
        `  ${rel(join(model.dir, 'model.json'))} (how this model was made), docs/results.md, docs/training.md, docs/evaluate.md`,
        '',
      ].join('\n'),
    );
    return { seed, clips, correct };
  } finally {
    if (!opts.out) await rm(dir, { recursive: true, force: true });
  }
}

/** Registers `tsm start`. */
export const registerStart: RegisterCommand = (program: Command) => {
  program
    .command('start')
    .description('Classify a few new synthetic clips with the built-in default model (what npm start runs)')
    .option('--seed <n>', 'seed of the new clips (default: random)')
    .option('--clips <n>', 'new clips per class', '2')
    .option('--out <dir>', 'keep the generated frame folders here (default: a temporary folder)')
    .option('--threads <n>', 'onnxruntime threads (0: its default)', '2')
    .action(async (flags: StartFlags) => {
      const opts = parseStartFlags(flags);
      if (opts.out !== undefined) await checkOutputPath(opts.out, { kind: 'folder', flag: '--out' });
      await runStart(opts);
    });
};
