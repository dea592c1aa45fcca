/**
 * `npm run train:default`: builds the model shipped in models/default/ from nothing, with our own CLI only:
 *
 *   1. `tsm make-synthetic` the temporal-order dataset (fixed seed) and a separate held-out test set (another seed);
 *   2. `tsm train` a small TSM-MobileNetV2 from scratch (width 0.5, 4 segments, 64 px);
 *   3. `tsm test` it on the held-out clips;
 *   4. `tsm export` the clip ONNX (shipped with the weights);
 *   5. the same for the online variant (`tsm train --online-shift`, uni-directional shift), exported with
 *      `tsm export --online` for `tsm demo` and the browser demo (only its step ONNX is shipped);
 *   6. writes models/default/model.json, the model card: every command line, seeds, dataset spec, held-out
 *      accuracy, timings, file sizes.
 *
 *   npx tsx scripts/train-default.ts [--work .tmp/train-default] [--out models/default] [--variants clip,online]
 *
 * Training is CPU-heavy (about 13 minutes per variant on 2 cores): before each training run the script waits (up
 * to 15 minutes) for the 1-minute load average to drop below 1.5. Node only.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { extractStateDict, pyFloat, readPth, writePth } from '../src/checkpoint/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The synthetic dataset: 4 motions x 2 directions; each class's clips are its partner's played backwards. */
export const DATASET = Object.freeze({
  classes: ['right', 'left', 'down', 'up', 'clockwise', 'anticlockwise', 'grow', 'shrink'],
  /** Clips per class, train + val (val: 10%, watched during training only). */
  clips: 150,
  valFraction: 0.1,
  size: 64,
  frames: 16,
  seed: 1,
});

/** The held-out test set: the same generator with another seed, never seen in training or model selection. */
export const TEST_SET = Object.freeze({ clips: 50, seed: 2 });

/** Training flags shared by every variant (main.py's names). */
export const TRAIN = Object.freeze({
  arch: 'mobilenetv2',
  widthMult: 0.5,
  numSegments: 4,
  inputSize: 64,
  epochs: 36,
  batchSize: 8,
  lr: 0.005,
  lrType: 'cos',
  weightDecay: 1e-4,
  dropout: 0.2,
  clipGradient: 20,
  /** main.py's classifier lr x5 / x10 off: from scratch it delays the start of learning by several epochs. */
  fcLr5: false,
  workers: 1,
  threads: 2,
  seed: 0,
});

/** `tsm train` flags for a dataset folder; `shift` picks TSM (bidirectional), TSN (none) or the online shift. */
export function trainArgs(dataset: string, shift: 'tsm' | 'tsn' | 'online', rootModel: string, rootLog: string): string[] {
  const t = TRAIN;
  return [
    'train', dataset, 'RGB',
    '--arch', t.arch, '--width-mult', String(t.widthMult), '--num-segments', String(t.numSegments),
    ...(shift === 'tsm' ? ['--shift'] : shift === 'online' ? ['--shift', '--online-shift'] : []),
    '--pretrain', 'scratch', '--input-size', String(t.inputSize),
    '--epochs', String(t.epochs), '-b', String(t.batchSize), '--lr', String(t.lr), '--lr-type', t.lrType,
    '--wd', String(t.weightDecay), '--dropout', String(t.dropout), '--gd', String(t.clipGradient), '--npb', ...(t.fcLr5 ? [] : ['--no-fc-lr5']),
    '--eval-freq', String(t.epochs), '-j', String(t.workers), '--threads', String(t.threads), '--seed', String(t.seed),
    '--root-model', rootModel, '--root-log', rootLog, '--no-progress', '-p', '10',
  ];
}

/** `tsm make-synthetic` flags of the training set. */
export function datasetArgs(out: string): string[] {
  const d = DATASET;
  return ['make-synthetic', out, '--classes', d.classes.join(','), '--clips', String(d.clips), '--size', String(d.size), '--frames', String(d.frames), '--seed', String(d.seed), '--val-fraction', String(d.valFraction)];
}

/** `tsm make-synthetic` flags of the held-out test set (every clip in the train list; `tsm test --test-list` reads it). */
export function testSetArgs(out: string): string[] {
  const d = DATASET;
  return ['make-synthetic', out, '--classes', d.classes.join(','), '--clips', String(TEST_SET.clips), '--size', String(d.size), '--frames', String(d.frames), '--seed', String(TEST_SET.seed), '--val-fraction', '0'];
}

/** `tsm test` flags: the held-out set at the training crop size. */
export function testArgs(testSet: string, weights: string, output: string): string[] {
  return ['test', testSet, '--weights', weights, '--test-list', join(testSet, 'train_videofolder.txt'), '--input-size', String(TRAIN.inputSize), '--batch-size', '8', '-j', '1', '--threads', String(TRAIN.threads), '--output', output];
}

/** A command that ran: its `tsm ...` line (paths relative to the repository) and how long it took. */
export interface CommandRecord {
  readonly command: string;
  readonly seconds: number;
}

const quote = (a: string): string => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/** Runs `node bin/tsm.js ...args` in the repository root with inherited output; throws when it fails. */
export function tsm(args: readonly string[]): CommandRecord {
  const shown = `tsm ${args.map((a) => quote(a.startsWith(ROOT) ? relative(ROOT, a) || '.' : a)).join(' ')}`;
  process.stdout.write(`\n$ ${shown}\n`);
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, 'bin', 'tsm.js'), ...args], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${shown} failed with exit code ${r.status ?? r.signal}`);
  return { command: shown, seconds: Math.round((performance.now() - t0) / 100) / 10 };
}

/** Waits until the 1-minute load average is below 1.5, or `maxS` seconds pass; returns the load then. */
export async function waitQuiet(maxS = 900, what = 'training'): Promise<number> {
  const until = Date.now() + maxS * 1000;
  if (loadavg()[0] >= 1.5) process.stdout.write(`load average ${loadavg()[0].toFixed(2)}: waiting for a quiet machine before ${what} (up to ${maxS} s)\n`);
  while (loadavg()[0] >= 1.5 && Date.now() < until) await new Promise((r) => setTimeout(r, 10_000));
  return loadavg()[0];
}

/** The held-out numbers `tsm test` wrote to `<output>/metrics.json`. */
export interface HeldOut {
  readonly top1: number;
  readonly meanClassAccuracy: number;
  readonly numVideos: number;
  readonly perClass: Readonly<Record<string, number>>;
}

/** Reads `<output>/metrics.json` of `tsm test`. */
export function readHeldOut(output: string): HeldOut {
  const m = JSON.parse(readFileSync(join(output, 'metrics.json'), 'utf8')) as {
    top1: number;
    meanClassAccuracy: number;
    numVideos: number;
    /** accuracy in percent */
    perClass: { name: string; accuracy: number | null }[];
  };
  return {
    top1: m.top1,
    meanClassAccuracy: m.meanClassAccuracy,
    numVideos: m.numVideos,
    perClass: Object.fromEntries(m.perClass.map((c) => [c.name, c.accuracy === null ? NaN : Math.round(c.accuracy * 100) / 100])),
  };
}

/** The one checkpoint a training run wrote under `<rootModel>/<store name>/ckpt.pth.tar`. */
export function trainedCheckpoint(rootModel: string): string {
  const runs = readdirSync(rootModel).filter((d) => existsSync(join(rootModel, d, 'ckpt.pth.tar')));
  if (runs.length !== 1) throw new Error(`expected one training run under ${rootModel}, found ${runs.length} (${runs.join(', ')})`);
  return join(rootModel, runs[0], 'ckpt.pth.tar');
}

/**
 * Writes the weights of a training checkpoint without its optimizer state (main.py's layout otherwise: `epoch`,
 * `arch`, `state_dict` with `module.` keys, `best_prec1`, and `shift_mode` for the online shift).
 */
export async function writeWeightsOnly(ckpt: string, out: string): Promise<void> {
  const { stateDict, meta } = extractStateDict(await readPth(ckpt));
  const bestPrec1 = meta.best_prec1 === undefined ? undefined : pyFloat(meta.best_prec1);
  await writePth(out, { stateDict, meta: { epoch: meta.epoch, arch: meta.arch, best_prec1: bestPrec1, shift_mode: meta.shift_mode } });
}

/** A store name without `_scratch_cos`: the shipped file name, which still tells every loader the configuration. */
const shippedName = (ckpt: string): string => `${basename(dirname(ckpt)).replace(/_scratch_cos$/, '')}.pth`;

const fileSize = (p: string): number => statSync(p).size;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      work: { type: 'string', default: join(ROOT, '.tmp', 'train-default') },
      out: { type: 'string', default: join(ROOT, 'models', 'default') },
      variants: { type: 'string', default: 'clip,online' },
    },
  });
  const work = resolve(values.work!);
  const out = resolve(values.out!);
  const variants = values.variants!.split(',');
  for (const v of variants) if (v !== 'clip' && v !== 'online') throw new Error(`--variants: expected clip and/or online, got ${v}`);
  mkdirSync(work, { recursive: true });
  mkdirSync(out, { recursive: true });
  const commands: Record<string, CommandRecord> = {};
  const data = join(work, 'data');
  const testSet = join(work, 'test');
  if (!existsSync(join(data, 'dataset.json'))) commands.dataset = tsm(datasetArgs(data));
  if (!existsSync(join(testSet, 'dataset.json'))) commands.testSet = tsm(testSetArgs(testSet));
  copyFileSync(join(data, 'category.txt'), join(out, 'labels.txt'));

  const card = existsSync(join(out, 'model.json')) ? (JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as Record<string, unknown>) : {};
  const models = (card.models ?? {}) as Record<string, unknown>;
  for (const variant of variants) {
    const online = variant === 'online';
    const rootModel = join(work, `checkpoint-${variant}`);
    rmSync(rootModel, { recursive: true, force: true });
    const load = await waitQuiet();
    const train = tsm(trainArgs(data, online ? 'online' : 'tsm', rootModel, join(work, `log-${variant}`)));
    const ckpt = trainedCheckpoint(rootModel);
    // the clip model ships its weights and clip ONNX; the online model only its step ONNX (its weights stay in <work>)
    const weights = join(online ? work : out, shippedName(ckpt));
    await writeWeightsOnly(ckpt, weights);
    const results = join(work, `test-${variant}`);
    const test = tsm(testArgs(testSet, weights, results));
    const heldOut = readHeldOut(results);
    const files: Record<string, string> = {};
    const recorded: Record<string, string> = { train: train.command, test: test.command };
    if (online) {
      const onlineOnnx = join(out, basename(weights).replace(/\.pth$/, '_step.onnx'));
      recorded.exportOnline = tsm(['export', '--online', '--weights', weights, '--out', onlineOnnx, '--input-size', String(TRAIN.inputSize), '--labels', join(out, 'labels.txt')]).command;
      files.onlineOnnx = basename(onlineOnnx);
    } else {
      const onnx = weights.replace(/\.pth$/, '.onnx');
      recorded.export = tsm(['export', '--weights', weights, '--out', onnx, '--input-size', String(TRAIN.inputSize), '--labels', join(out, 'labels.txt')]).command;
      files.weights = basename(weights);
      files.onnx = basename(onnx);
    }
    const entry: Record<string, unknown> = {
      description: online
        ? 'TSM-MobileNetV2 with the online (uni-directional) shift: the shifted 1/8 of the channels comes from the previous frame only, so it runs frame by frame in the online step model (tsm demo, npm run demo:web); only its step ONNX is shipped'
        : 'TSM-MobileNetV2 with the original bidirectional shift (1/8 of the channels from the previous segment, 1/8 from the next), for whole clips (npm start, tsm predict, tsm test)',
      files,
      heldOut: { ...heldOut, seed: TEST_SET.seed, clipsPerClass: TEST_SET.clips },
      commands: recorded,
      trainingSeconds: train.seconds,
      loadAverageAtStart: Math.round(load * 100) / 100,
    };
    entry.sizes = Object.fromEntries(Object.values(entry.files as Record<string, string>).map((f) => [f, fileSize(join(out, f))]));
    models[variant] = entry;
  }

  const ds = DATASET;
  const next = {
    name: 'tsm-mobilenetv2-synthetic',
    summary: `TSM-MobileNetV2 (width ${TRAIN.widthMult}, ${TRAIN.numSegments} segments, ${TRAIN.inputSize} px), trained from scratch on the synthetic temporal-order task (${ds.classes.length} classes)`,
    labels: 'labels.txt',
    classes: ds.classes,
    input: { numSegments: TRAIN.numSegments, inputSize: TRAIN.inputSize, scaleSize: Math.floor((TRAIN.inputSize * 256) / 224), frames: ds.frames, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] },
    dataset: {
      description: 'tsm make-synthetic: a shape moving right/left, down/up, turning clockwise/anticlockwise, growing/shrinking over random colours, sizes, backgrounds, noise and a static distractor; each class is its partner played backwards, so only frame order tells a pair apart',
      ...ds,
      command: commands.dataset?.command ?? (card.dataset as { command?: string } | undefined)?.command ?? `tsm ${datasetArgs('.tmp/train-default/data').join(' ')}`,
      testSet: { ...TEST_SET, command: commands.testSet?.command ?? `tsm ${testSetArgs('.tmp/train-default/test').join(' ')}` },
    },
    training: { ...TRAIN, script: 'npm run train:default (scripts/train-default.ts)' },
    models,
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 29) / 2, node: process.version },
    date: new Date().toISOString().slice(0, 10),
  };
  const tmp = join(out, 'model.json.tmp');
  writeFileSync(tmp, `${JSON.stringify(next, null, 2)}\n`);
  renameSync(tmp, join(out, 'model.json'));
  process.stdout.write(`\nwrote ${relative(ROOT, out)}/model.json\n`);
  for (const [v, e] of Object.entries(models)) {
    const m = e as { heldOut: HeldOut; trainingSeconds: number; sizes: Record<string, number> };
    process.stdout.write(`${v}: held-out top-1 ${m.heldOut.top1.toFixed(2)}% on ${m.heldOut.numVideos} clips; trained in ${(m.trainingSeconds / 60).toFixed(1)} min; ${Object.entries(m.sizes).map(([f, b]) => `${f} ${(b / 1e6).toFixed(2)} MB`).join(', ')}\n`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
