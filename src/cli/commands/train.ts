/**
 * `tsm train <dataset> <modality> [flags]`: TSM's main.py. Flags are main.py's (opts.py) in kebab-case; the
 * original snake_case spellings (`--num_segments`, `--lr_steps`, `--shift_div`, ...) and short forms (`-b`, `-j`,
 * `--wd`, `--gd`, `-e`) work too, so the original README's commands run unchanged, e.g.
 * `tsm train kinetics RGB --arch resnet50 --num_segments 8 --gd 20 --lr 0.02 --wd 1e-4 --lr_steps 20 40
 *  --epochs 50 --batch-size 128 -j 16 --dropout 0.5 --consensus_type=avg --eval-freq=1 --shift --shift_div=8
 *  --shift_place=blockres --npb`.
 * `--online-shift` (our addition) trains with the online model's uni-directional shift, so MobileNetV2 weights
 * export to the online step model as they are. On a terminal each epoch draws a progress bar on stderr (see
 * ./train-progress.ts) instead of the per-step lines; `--no-progress` keeps the lines.
 */
import { resolveCliWeights } from './weights.js';
import { Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { CONSENSUS_TYPES, type ConsensusType } from '../../models/consensus.js';
import { MODALITIES, type Modality } from '../../models/config.js';
import { SHIFT_PLACES, type ShiftPlace } from '../../models/temporal-shift.js';
import { parseDevice } from '../../runtime/index.js';
import { LR_TYPES, type LrType } from '../../train/schedule.js';
import { type RunEvent, type TrainRunOptions, trainTsn } from '../../train/run.js';
import { addSnakeAliases, intFlag, mergeSnakeAliases, numberFlag } from './data-common.js';
import { oneOfFlag, strFlag } from './model-flags.js';
import { aliasOptions } from '../option-flags.js';
import { TrainProgressBar } from './train-progress.js';
import { checkOutputPaths } from '../../util/output-path.js';

/** Raw flag values as commander hands them over. */
type TrainFlags = Readonly<Record<string, string | string[] | boolean | undefined>>;

const oneOf = <T extends string>(flag: string, v: string | undefined, table: Readonly<Record<T, string>>): T | undefined => (v === undefined ? undefined : oneOfFlag(flag, v, table));

/** `--width-mult`: a positive number, or undefined when not given. */
function widthMultFlag(v: string | undefined): number | undefined {
  const w = numberFlag('--width-mult', v);
  if (w !== undefined && !(w > 0)) throw UsageError.expected('--width-mult', 'a positive number', v);
  return w;
}

/** Checks the flags of `tsm train`; throws a {@link UsageError} naming the flag. */
export function parseTrainFlags(dataset: string, modality: string, raw: TrainFlags): TrainRunOptions {
  const m = mergeSnakeAliases({ ...raw } as Record<string, unknown>) as TrainFlags;
  // A second spelling, typed (it has no default), wins over the main flag's default.
  const f: TrainFlags = { ...m, lr: m.learningRate ?? m.lr, dropout: m.do ?? m.dropout, weightDecay: m.wd ?? m.weightDecay, clipGradient: m.gd ?? m.clipGradient, evalFreq: m.ef ?? m.evalFreq };
  const mod = oneOf<Modality>('<modality>', modality, MODALITIES) as Modality;
  const lossType = strFlag(f, 'lossType') ?? 'nll';
  if (lossType !== 'nll') throw UsageError.expected('--loss-type', 'nll (cross-entropy, the only loss main.py has)', lossType);
  const lrSteps = f.lrSteps === undefined ? undefined : (Array.isArray(f.lrSteps) ? f.lrSteps : [String(f.lrSteps)]).map((v) => intFlag('--lr-steps', v, 0) as number);
  const clip = strFlag(f, 'clipGradient');
  const dropout = numberFlag('--dropout', strFlag(f, 'dropout'));
  if (dropout !== undefined && !(dropout >= 0 && dropout < 1)) throw UsageError.expected('--dropout', 'a probability in [0, 1)', dropout);
  return {
    dataset,
    modality: mod,
    rootPath: strFlag(f, 'rootPath'),
    trainList: strFlag(f, 'trainList'),
    valList: strFlag(f, 'valList'),
    arch: strFlag(f, 'arch'),
    numSegments: intFlag('--num-segments', strFlag(f, 'numSegments')),
    consensusType: oneOf<ConsensusType>('--consensus-type', strFlag(f, 'consensusType'), CONSENSUS_TYPES),
    dropout,
    // --online-shift implies --shift
    shift: f.shift === true || f.onlineShift === true,
    ...(f.onlineShift === true ? { shiftMode: 'online' as const } : {}),
    shiftDiv: intFlag('--shift-div', strFlag(f, 'shiftDiv')),
    shiftPlace: oneOf<ShiftPlace>('--shift-place', strFlag(f, 'shiftPlace'), SHIFT_PLACES),
    temporalPool: f.temporalPool === true,
    nonLocal: f.nonLocal === true,
    denseSample: f.denseSample === true,
    pretrain: strFlag(f, 'pretrain'),
    tuneFrom: strFlag(f, 'tuneFrom'),
    epochs: intFlag('--epochs', strFlag(f, 'epochs')),
    batchSize: intFlag('--batch-size', strFlag(f, 'batchSize')),
    lr: numberFlag('--lr', strFlag(f, 'lr')),
    lrType: oneOf<LrType>('--lr-type', strFlag(f, 'lrType'), LR_TYPES),
    lrSteps,
    momentum: numberFlag('--momentum', strFlag(f, 'momentum')),
    weightDecay: numberFlag('--weight-decay', strFlag(f, 'weightDecay')),
    clipGradient: clip === undefined ? undefined : clip === 'none' ? null : numberFlag('--clip-gradient', clip),
    partialBn: f.partialbn !== false && f.npb !== true && f.noPartialbn !== true,
    evalFreq: intFlag('--eval-freq', strFlag(f, 'evalFreq')),
    workers: intFlag('--workers', strFlag(f, 'workers'), 0),
    resume: strFlag(f, 'resume'),
    evaluate: f.evaluate === true,
    startEpoch: intFlag('--start-epoch', strFlag(f, 'startEpoch'), 0),
    rootLog: strFlag(f, 'rootLog'),
    rootModel: strFlag(f, 'rootModel'),
    suffix: strFlag(f, 'suffix'),
    seed: intFlag('--seed', strFlag(f, 'seed'), 0),
    inputSize: intFlag('--input-size', strFlag(f, 'inputSize')),
    widthMult: widthMultFlag(strFlag(f, 'widthMult')),
    ...(f.fcLr5 === false ? { fcLr5: false } : {}),
    device: parseDevice(strFlag(f, 'device') ?? 'cpu'),
    threads: intFlag('--threads', strFlag(f, 'threads') ?? '0', 0),
  };
}

/** One line per event, in main.py's wording. */
export function formatRunEvent(e: RunEvent, printFreq: number): string | undefined {
  switch (e.status) {
    case 'note':
      return `=> ${e.message}`;
    case 'epoch_start':
      return undefined;
    case 'step':
      if (e.iter % printFreq !== 0) return undefined;
      return `Epoch: [${e.epoch}][${e.iter}], lr: ${e.lr.toFixed(5)}\tTime ${(e.ms / 1000).toFixed(3)}\tLoss ${e.loss.toFixed(4)}\tPrec@1 ${e.top1.toFixed(3)}\tPrec@5 ${e.top5.toFixed(3)}\tgrad norm ${e.gradNorm.toFixed(2)}`;
    case 'epoch_end':
      return `Epoch: [${e.epoch}] done in ${(e.stats.ms / 1000).toFixed(1)} s\tLoss ${e.stats.loss.toFixed(4)}\tPrec@1 ${e.stats.top1.toFixed(3)}\tPrec@5 ${e.stats.top5.toFixed(3)}`;
    case 'validate':
      return `Testing Results: Prec@1 ${e.top1.toFixed(3)} Prec@5 ${e.top5.toFixed(3)} Loss ${e.loss.toFixed(5)}`;
    case 'checkpoint':
      return e.best ? `=> best so far, saved ${e.path}` : `=> saved ${e.path}`;
  }
}

/** Kebab-case flags with an argument that also accept main.py's snake_case spelling. */
const SNAKE = [
  'lr-steps <epochs...>', 'temporal-pool', 'non-local', 'dense-sample', 'num-segments <n>', 'consensus-type <t>', 'loss-type <t>', 'img-feature-dim <n>', 'tune-from <f>', 'batch-size <n>', 'lr-type <t>',
  'weight-decay <w>', 'clip-gradient <g>', 'print-freq <n>', 'eval-freq <n>', 'start-epoch <n>', 'root-log <d>', 'root-model <d>',
  'shift-div <n>', 'shift-place <p>', 'online-shift', 'root-path <d>', 'train-list <f>', 'val-list <f>', 'input-size <n>', 'width-mult <w>',
];

/** Where `tsm train` writes its lines (stdout by default; tests pass a collector). */
export interface TrainIo {
  readonly write: (line: string) => void;
  /** Where the per-epoch progress bar is drawn; it draws only on a TTY. @default none */
  readonly progress?: NodeJS.WritableStream;
}

const STDOUT: TrainIo = { write: (line) => process.stdout.write(line), progress: process.stderr };

/** Registers `tsm train` (fits `RegisterCommand` in ./index.ts); `io` receives the output lines. */
export function registerTrain(program: Command, io: TrainIo = STDOUT): void {
  const cmd = program
    .command('train')
    .description("Train a TSN/TSM model as the original main.py does (SGD, TSM's parameter groups, partial BN, clipping); Node only")
    .argument('<dataset>', 'dataset name (something, kinetics, ...) or a folder with a dataset.json')
    .argument('<modality>', 'RGB or Flow')
    .option('--arch <name>', 'backbone', 'BNInception')
    .option('--num-segments <n>', 'segments per clip', '3')
    .option('--consensus-type <t>', 'avg | identity', 'avg')
    .option('--k <n>', 'recorded only (TRN)', '3')
    .option('--dropout <p>', 'dropout before new_fc', '0.5')
    .option('--loss-type <t>', 'nll only', 'nll')
    .option('--img-feature-dim <n>', 'recorded only', '256')
    .option('--suffix <s>', 'appended to the store name')
    .option('--pretrain <spec>', 'imagenet | scratch | weights file/URL/zoo name', 'imagenet')
    .option('--tune-from <file>', 'fine-tune from a TSM checkpoint')
    .option('--epochs <n>', 'total epochs', '120')
    .option('-b, --batch-size <n>', 'clips per batch', '128')
    .option('--lr <lr>', 'base learning rate', '0.001')
    .option('--lr-type <t>', 'step | cos', 'step')
    .option('--lr-steps <epochs...>', 'epochs where the lr drops x0.1', ['50', '100'])
    .option('--momentum <m>', 'SGD momentum', '0.9')
    .option('--weight-decay <w>', 'weight decay', '5e-4')
    .option('--clip-gradient <g>', 'max total gradient norm ("none" disables)', '20')
    .option('--no-partialbn', 'train every BatchNorm (default: only the first); also --npb')
    .option('-p, --print-freq <n>', 'print every n batches', '20')
    .option('--eval-freq <n>', 'validate every n epochs', '5')
    .option('-j, --workers <n>', 'data loader threads', '8')
    .option('--resume <file>', 'resume from a checkpoint')
    .option('-e, --evaluate', 'only validate')
    .option('--start-epoch <n>', 'first epoch (default 0, or the resumed one)')
    .option('--root-log <dir>', 'log folder', 'log')
    .option('--root-model <dir>', 'checkpoint folder', 'checkpoint')
    .option('--shift', 'insert the temporal shift')
    .option('--shift-div <n>', 'shift 1/n of the channels each way', '8')
    .option('--shift-place <p>', 'blockres | block', 'blockres')
    .option('--online-shift', "uni-directional shift from past frames only, as the online demo's model (implies --shift)")
    .option('--temporal-pool', 'max-pool time before layer2 (ResNet)')
    .option('--non-local', 'non-local blocks (ResNet-50/101)')
    .option('--dense-sample', 'dense sampling (Kinetics)')
    .option('--root-path <dir>', 'dataset root (default $TSM_DATA_ROOT)')
    .option('--train-list <file>', "override the dataset's training list")
    .option('--val-list <file>', "override the dataset's validation list")
    .option('--input-size <n>', "crop size (default the backbone's, 224)")
    .option('--width-mult <w>', 'MobileNetV2 channel multiplier (default 1)')
    .option('--no-fc-lr5', "train the classifier at the base lr (main.py: x5 weight, x10 bias unless fine-tuning on the same dataset)")
    .option('--seed <n>', 'seed of shuffling, augmentation and init', '0')
    .option('--device <d>', 'cpu | cuda | auto', 'cpu')
    .option('--threads <n>', 'onnxruntime threads (0: its default)', '0')
    .option('--no-progress', 'print per-step lines instead of a progress bar on a terminal');
  addSnakeAliases(cmd, SNAKE);
  // the TSN options (as the model's errors name them) these flags set under other names
  aliasOptions(cmd, { baseModel: '--arch', isShift: '--shift', shiftMode: '--online-shift' });
  // opts.py's second spellings: --do, --learning-rate, --wd, --gd, --ef, --npb / --no_partialbn.
  for (const alias of ['--do <p>', '--learning-rate <lr>', '--wd <w>', '--gd <g>', '--ef <n>', '--npb', '--no_partialbn']) cmd.addOption(new Option(alias).hideHelp());
  cmd.addOption(new Option('--gpus <ids...>', 'ignored (use --device)').hideHelp());
  cmd.addOption(new Option('--flow-prefix <p>', 'ignored (the dataset config has the template)').hideHelp());
  cmd.action(async (dataset: string, modality: string, flags: TrainFlags) => {
    const merged = mergeSnakeAliases({ ...flags } as Record<string, unknown>) as TrainFlags;
    const parsed = parseTrainFlags(dataset, modality, merged);
    await checkOutputPaths([[parsed.rootLog, 'folder', '--root-log'], [parsed.rootModel, 'folder', '--root-model']]);
    // --tune-from takes a zoo name or URL too, as --weights does elsewhere.
    const opts = parsed.tuneFrom === undefined ? parsed : { ...parsed, tuneFrom: await resolveCliWeights(parsed.tuneFrom) };
    const printFreq = intFlag('--print-freq', strFlag(merged, 'printFreq')) ?? 20;
    const bar = merged.progress !== false && io.progress ? new TrainProgressBar({ stream: io.progress, epochs: opts.epochs ?? 120 }) : undefined;
    let res;
    try {
      res = await trainTsn(opts, (e) => {
        if (bar?.handle(e)) return;
        const line = formatRunEvent(e, printFreq);
        if (line !== undefined) io.write(`${line}\n`);
      });
    } finally {
      bar?.stop();
    }
    io.write(`Best Prec@1: ${res.bestPrec1.toFixed(3)}${res.checkpoint ? ` (${res.checkpoint})` : ''}\n`);
  });
}
