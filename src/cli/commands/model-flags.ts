/**
 * The TSN configuration flags shared by the verbs that load a checkpoint (`infer`, `test`, `predict`): `--arch`,
 * `--num-class`, `--segments`, `--shift`/`--no-shift`, `--shift-div`, `--shift-place`, `--temporal-pool`,
 * `--non-local`, `--modality`, `--new-length`, `--consensus`, `--dropout`, with the original scripts' snake_case
 * spellings as hidden aliases. Flags override what the checkpoint's file name says.
 */
import { type Command, Option } from 'commander';
import { UsageError } from '../../errors.js';
import { CONSENSUS_TYPES, type ConsensusType } from '../../models/consensus.js';
import { MODALITIES, type Modality } from '../../models/config.js';
import type { TsnOverrides } from '../../models/load.js';
import { SHIFT_PLACES, type ShiftPlace } from '../../models/temporal-shift.js';
import { aliasOptions } from '../option-flags.js';

/** Raw flag values as commander hands them over (kebab-case flags and their snake_case aliases). */
export type RawFlags = Readonly<Record<string, string | boolean | undefined>>;

/** Which of the shared flags a verb takes; a verb with its own segment or fusion flag leaves those out. */
export interface ModelFlagSet {
  /** `--segments` (and `--num-segments`, `--test-segments`). @default true */
  readonly segments?: boolean;
  /** `--consensus` (and `--consensus-type`). @default true */
  readonly consensus?: boolean;
}

/** Parses an integer flag `>= min`; throws a {@link UsageError} naming the flag. */
export const intFlag = (flag: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw UsageError.expected(flag, min === 0 ? 'a non-negative integer' : 'a positive integer', v);
  return n;
};

/** The first of `names` that holds a string value (commander gives booleans for bare flags). */
export const strFlag = (f: Readonly<Record<string, unknown>>, ...names: string[]): string | undefined => {
  for (const n of names) if (typeof f[n] === 'string') return f[n] as string;
  return undefined;
};

/** Checks that `v` is a key of `table`; throws a {@link UsageError} listing the keys. */
export const oneOfFlag = <T extends string>(flag: string, v: string, table: Readonly<Record<T, string>>): T => {
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

/** The value of flag `name` under any of its spellings. */
export const getFlag = (f: RawFlags, name: string): string | boolean | undefined => {
  for (const a of ALIASES[name] ?? [name]) if (f[a] !== undefined) return f[a];
  return undefined;
};

/**
 * Adds the configuration flags to `cmd`, in help order, with hidden snake_case aliases.
 * @example addModelFlags(program.command('predict'), { segments: false })
 */
export function addModelFlags(cmd: Command, set: ModelFlagSet = {}): Command {
  const { segments = true, consensus = true } = set;
  cmd
    .option('--arch <name>', 'backbone: resnet18/34/50/101/152, mobilenetv2, BNInception (default: file name, then the checkpoint)')
    .option('--num-class <n>', 'classes (default: dataset in the file name, then the classifier weight)');
  if (segments) cmd.option('--segments <n>', 'segments per clip T (default: the input channels / (C*L), then the file name)');
  cmd
    .option('--shift', 'the model has temporal shift')
    .option('--no-shift', 'the model has no temporal shift (TSN baseline)')
    .option('--shift-div <d>', 'shift 1/d of the channels each way (default: file name, else 8)')
    .option('--shift-place <place>', 'blockres | block (default: file name, then the checkpoint keys)')
    .option('--temporal-pool', 'temporal max-pooling before layer2 (ResNet)')
    .option('--non-local', 'non-local blocks in layer2/layer3 (ResNet-50)')
    .option('--modality <m>', 'RGB | Flow (default: file name, then the first conv)')
    .option('--new-length <n>', 'frames stacked per segment (default 1 RGB, 5 Flow; Flow: from the first conv)');
  if (consensus) cmd.option('--consensus <type>', 'avg | identity (default: file name, else avg)');
  cmd.option('--dropout <p>', 'dropout of the trained model (only decides new_fc vs fc; default: the checkpoint)');
  // the TSN options (as model loading errors name them) these flags set under other names
  return aliasOptions(cmd, {
    baseModel: '--arch',
    isShift: '--shift',
    ...(segments ? { numSegments: '--segments' } : {}),
    ...(consensus ? { consensusType: '--consensus' } : {}),
  });
}

/** Adds the hidden snake_case spellings of {@link addModelFlags}' flags (call after the verb's own options). */
export function addModelFlagAliases(cmd: Command, set: ModelFlagSet = {}): Command {
  const { segments = true, consensus = true } = set;
  const hidden = (flags: string) => cmd.addOption(new Option(flags).hideHelp());
  hidden('--num_class <n>');
  if (segments) {
    hidden('--num-segments <n>');
    hidden('--num_segments <n>');
    hidden('--test-segments <n>');
    hidden('--test_segments <n>');
  }
  hidden('--shift_div <d>');
  hidden('--shift_place <place>');
  hidden('--temporal_pool');
  hidden('--non_local');
  hidden('--new_length <n>');
  if (consensus) {
    hidden('--consensus-type <type>');
    hidden('--consensus_type <type>');
  }
  return cmd;
}

/**
 * Reads the configuration flags into {@link TsnOverrides}; flags not given stay undefined (the file name and the
 * checkpoint decide them).
 * @throws {UsageError} naming the flag with a bad value
 */
export function parseModelFlags(f: RawFlags, set: ModelFlagSet = {}): TsnOverrides {
  const { segments = true, consensus = true } = set;
  const o: { -readonly [K in keyof TsnOverrides]: TsnOverrides[K] } = {};
  const str = (name: string) => {
    const v = getFlag(f, name);
    return typeof v === 'string' ? v : undefined;
  };
  if (str('arch') !== undefined) o.arch = str('arch');
  if (str('numClass') !== undefined) o.numClass = intFlag('--num-class', str('numClass')!, 1);
  if (segments && str('segments') !== undefined) o.numSegments = intFlag('--segments', str('segments')!, 1);
  if (typeof f.shift === 'boolean') o.isShift = f.shift;
  if (str('shiftDiv') !== undefined) o.shiftDiv = intFlag('--shift-div', str('shiftDiv')!, 1);
  if (str('shiftPlace') !== undefined) o.shiftPlace = oneOfFlag<ShiftPlace>('--shift-place', str('shiftPlace')!, SHIFT_PLACES);
  if (getFlag(f, 'temporalPool') === true) o.temporalPool = true;
  if (getFlag(f, 'nonLocal') === true) o.nonLocal = true;
  if (str('modality') !== undefined) o.modality = oneOfFlag<Modality>('--modality', str('modality')!, MODALITIES);
  if (str('newLength') !== undefined) o.newLength = intFlag('--new-length', str('newLength')!, 1);
  if (consensus && str('consensus') !== undefined) o.consensusType = oneOfFlag<ConsensusType>('--consensus', str('consensus')!, CONSENSUS_TYPES);
  if (str('dropout') !== undefined) {
    const p = Number(str('dropout'));
    if (!(p >= 0 && p < 1)) throw UsageError.expected('--dropout', 'a probability in [0, 1)', str('dropout'));
    o.dropout = p;
  }
  return o;
}
