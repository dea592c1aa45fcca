/**
 * `tsm infer --weights FILE.pth --input X.npy --output Y.npy [config flags]`: runs a TSN/TSM checkpoint on one
 * batch of clips. X is float32 `[B, T·C·L, H, W]` exactly as TSN.forward takes it; Y is float32 logits
 * `[B, num_class]`. Flags override what the file name says; with no flags a released `TSM_..._segment8_...pth`
 * name decides, then the checkpoint (`arch` field, state dict) and the input's channel count.
 */
import { Command, Option } from 'commander';
import { readNpy, writeNpy } from '../../checkpoint/npy.js';
import { ShapeError, UsageError } from '../../errors.js';
import { CONSENSUS_TYPES, type ConsensusType } from '../../models/consensus.js';
import { MODALITIES, type Modality } from '../../models/config.js';
import { type TsnOverrides, TsnRunner, loadTsnCheckpoint } from '../../models/load.js';
import { SHIFT_PLACES, type ShiftPlace } from '../../models/temporal-shift.js';
import { type Device, parseDevice } from '../../runtime/index.js';
import type { RegisterCommand } from './index.js';

/** Parsed options of `tsm infer`. */
export interface InferOptions {
  readonly weights: string;
  readonly input: string;
  readonly output: string;
  readonly overrides: TsnOverrides;
  readonly device: Device;
  readonly threads: number;
}

/** Raw flag values as commander hands them over (kebab-case flags and their snake_case aliases). */
type InferFlags = Readonly<Record<string, string | boolean | undefined>>;

const int = (flag: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw UsageError.expected(flag, min === 0 ? 'a non-negative integer' : 'a positive integer', v);
  return n;
};

const oneOf = <T extends string>(flag: string, v: string, table: Readonly<Record<T, string>>): T => {
  if (!(v in table)) throw UsageError.expected(flag, `one of ${Object.keys(table).join(', ')}`, v);
  return v as T;
};

/** Flag name → its aliases (commander attribute names), first match wins. */
const ALIASES: Readonly<Record<string, readonly string[]>> = {
  numClass: ['numClass', 'num_class'],
  segments: ['segments', 'numSegments', 'num_segments', 'testSegments', 'test_segments'],
  shiftDiv: ['shiftDiv', 'shift_div'],
  shiftPlace: ['shiftPlace', 'shift_place'],
  temporalPool: ['temporalPool', 'temporal_pool'],
  nonLocal: ['nonLocal', 'non_local'],
  newLength: ['newLength', 'new_length'],
  consensus: ['consensus', 'consensusType', 'consensus_type'],
};

const get = (f: InferFlags, name: string): string | boolean | undefined => {
  for (const a of ALIASES[name] ?? [name]) if (f[a] !== undefined) return f[a];
  return undefined;
};

/** Checks the flags; throws a {@link UsageError} naming the flag. */
export function parseInferFlags(f: InferFlags): InferOptions {
  const o: { -readonly [K in keyof TsnOverrides]: TsnOverrides[K] } = {};
  const str = (name: string) => {
    const v = get(f, name);
    return typeof v === 'string' ? v : undefined;
  };
  if (str('arch') !== undefined) o.arch = str('arch');
  if (str('numClass') !== undefined) o.numClass = int('--num-class', str('numClass')!, 1);
  if (str('segments') !== undefined) o.numSegments = int('--segments', str('segments')!, 1);
  if (typeof f.shift === 'boolean') o.isShift = f.shift;
  if (str('shiftDiv') !== undefined) o.shiftDiv = int('--shift-div', str('shiftDiv')!, 1);
  if (str('shiftPlace') !== undefined) o.shiftPlace = oneOf<ShiftPlace>('--shift-place', str('shiftPlace')!, SHIFT_PLACES);
  if (get(f, 'temporalPool') === true) o.temporalPool = true;
  if (get(f, 'nonLocal') === true) o.nonLocal = true;
  if (str('modality') !== undefined) o.modality = oneOf<Modality>('--modality', str('modality')!, MODALITIES);
  if (str('newLength') !== undefined) o.newLength = int('--new-length', str('newLength')!, 1);
  if (str('consensus') !== undefined) o.consensusType = oneOf<ConsensusType>('--consensus', str('consensus')!, CONSENSUS_TYPES);
  if (str('dropout') !== undefined) {
    const p = Number(str('dropout'));
    if (!(p >= 0 && p < 1)) throw UsageError.expected('--dropout', 'a probability in [0, 1)', str('dropout'));
    o.dropout = p;
  }
  for (const req of ['weights', 'input', 'output'] as const) {
    if (typeof f[req] !== 'string') throw new UsageError(`missing --${req} <file>`);
  }
  return {
    weights: f.weights as string,
    input: f.input as string,
    output: f.output as string,
    overrides: o,
    device: parseDevice(typeof f.device === 'string' ? f.device : 'cpu'),
    threads: int('--threads', typeof f.threads === 'string' ? f.threads : '0', 0),
  };
}

/** What {@link infer} did. */
export interface InferResult {
  /** Shape of the logits written. */
  readonly shape: readonly number[];
  /** One line describing the configuration that ran. */
  readonly summary: string;
}

/**
 * Runs the checkpoint on the input and writes the logits.
 * @throws {ShapeError} when X is not `[B, T·C·L, H, W]` for the model
 */
export async function infer(opts: InferOptions, onNote: (m: string) => void = () => {}): Promise<InferResult> {
  const x = await readNpy(opts.input);
  if (x.shape.length !== 4) {
    throw new ShapeError(`--input ${opts.input} has shape [${x.shape.join(',')}]; expected [B, T*C*L, H, W] (T segments of C=3 RGB / 2 Flow channels x new_length L)`);
  }
  if (!['float32', 'float64', 'float16'].includes(x.dtype)) throw new UsageError(`--input ${opts.input} holds ${x.dtype}; expected float32 normalized frames`);
  const { model } = await loadTsnCheckpoint(opts.weights, opts.overrides, { inputChannels: x.shape[1], onNote });
  const runner = new TsnRunner(model, { device: opts.device, threads: opts.threads });
  try {
    const y = await runner.logits(x);
    await writeNpy(opts.output, y);
    const c = model.config;
    const shift = c.isShift ? `shift 1/${c.shiftDiv} ${c.shiftPlace}` : 'no shift';
    const extras = [c.temporalPool ? 'temporal pool' : '', c.nonLocal ? 'non-local' : '', c.modality === 'Flow' ? `Flow x${c.newLength}` : ''].filter(Boolean);
    return {
      shape: y.shape,
      summary: `${c.baseModel}, ${c.numSegments} segments, ${shift}, ${c.consensusType}${extras.length ? `, ${extras.join(', ')}` : ''}, ${c.numClass} classes`,
    };
  } finally {
    await runner.release();
  }
}

/** Registers `tsm infer`. */
export const registerInfer: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('infer')
    .description('Run a TSN/TSM checkpoint on a clip batch X [B, T*C*L, H, W] (.npy); save logits [B, num_class] (.npy)')
    .requiredOption('--weights <file>', 'checkpoint (.pth): a released TSM_<dataset>_<modality>_<arch>_..._segment<N>_... name configures itself')
    .requiredOption('--input <file>', 'float32 .npy [B, T*C*L, H, W], as TSN.forward takes it')
    .requiredOption('--output <file>', 'where to write the float32 logits .npy')
    .option('--arch <name>', 'backbone: resnet18/34/50/101/152, mobilenetv2, BNInception (default: file name, then the checkpoint)')
    .option('--num-class <n>', 'classes (default: dataset in the file name, then the classifier weight)')
    .option('--segments <n>', 'segments per clip T (default: the input channels / (C*L), then the file name)')
    .option('--shift', 'the model has temporal shift')
    .option('--no-shift', 'the model has no temporal shift (TSN baseline)')
    .option('--shift-div <d>', 'shift 1/d of the channels each way (default: file name, else 8)')
    .option('--shift-place <place>', 'blockres | block (default: file name, then the checkpoint keys)')
    .option('--temporal-pool', 'temporal max-pooling before layer2 (ResNet)')
    .option('--non-local', 'non-local blocks in layer2/layer3 (ResNet-50)')
    .option('--modality <m>', 'RGB | Flow (default: file name, then the first conv)')
    .option('--new-length <n>', 'frames stacked per segment (default 1 RGB, 5 Flow; Flow: from the first conv)')
    .option('--consensus <type>', 'avg | identity (default: file name, else avg)')
    .option('--dropout <p>', 'dropout of the trained model (only decides new_fc vs fc; default: the checkpoint)')
    .option('--device <device>', 'cpu, cuda, ... (Node only)', 'cpu')
    .option('--threads <n>', 'onnxruntime threads (0 = its default)', '0');
  // the original scripts' snake_case spellings, hidden from help
  const hidden = (flags: string) => cmd.addOption(new Option(flags).hideHelp());
  hidden('--num_class <n>');
  hidden('--num-segments <n>');
  hidden('--num_segments <n>');
  hidden('--test-segments <n>');
  hidden('--test_segments <n>');
  hidden('--shift_div <d>');
  hidden('--shift_place <place>');
  hidden('--temporal_pool');
  hidden('--non_local');
  hidden('--new_length <n>');
  hidden('--consensus-type <type>');
  hidden('--consensus_type <type>');
  cmd.action(async (flags: InferFlags) => {
    const opts = parseInferFlags(flags);
    const res = await infer(opts, (m) => process.stderr.write(`note: ${m}\n`));
    process.stdout.write(`wrote ${opts.output} [${res.shape.join(',')}] (${res.summary})\n`);
  });
};
