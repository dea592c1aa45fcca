/**
 * Finds the state dict inside a loaded checkpoint and tidies its keys. TSM's main.py saves
 * `{'epoch', 'arch', 'state_dict', 'optimizer', 'best_prec1'}` with the state dict of a `DataParallel` model (every
 * key starts with `module.`); other files hold a plain state dict.
 */
import { CheckpointError } from '../errors.js';
import type { HostTensor } from '../tensor/index.js';
import type { PthFile } from './pth-reader.js';
import { type PickleValue, PyFloat, describePy, isHostTensor } from './py-values.js';

/** Top-level entries of a checkpoint other than the state dict. The three TSM fields are typed when present. */
export interface CheckpointMeta {
  /** The next epoch to train (TSM saves `epoch + 1`). Left out unless the file holds an int. */
  readonly epoch?: number;
  /** Backbone name, e.g. `resnet50`. Left out unless the file holds a str. */
  readonly arch?: string;
  /** Best validation top-1 so far (a float, numpy scalar or one-element tensor in the file). */
  readonly best_prec1?: number;
  /** Class names in class order, as `tsm train` records them. Left out unless the file holds a list of str. */
  readonly categories?: string[];
  /** Every other top-level entry (e.g. `optimizer`), as read. */
  readonly [key: string]: PickleValue | undefined;
}

/** Result of {@link extractStateDict}. */
export interface ExtractedStateDict {
  /** Tensors by key, in file order. */
  readonly stateDict: Map<string, HostTensor>;
  /** The other top-level entries; empty for a plain state dict. */
  readonly meta: CheckpointMeta;
}

/** Options of {@link extractStateDict}. */
export interface ExtractStateDictOptions {
  /** File name for messages. @default the file's own source */
  readonly source?: string;
  /** Top-level key that holds the tensors. @default 'state_dict' (or the whole file when every value is a tensor) */
  readonly key?: string;
}

/** A number from a float, int, numpy scalar (already a number) or one-element numeric tensor. */
function scalarOf(v: PickleValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof PyFloat) return v.value;
  if (isHostTensor(v) && v.data.length === 1 && v.dtype !== 'float16' && v.dtype !== 'bool') return Number(v.data[0]);
  return undefined;
}

/** The typed fields of {@link CheckpointMeta}: each keeps only a value of its type. */
const TYPED_META = Object.freeze({
  epoch: (v: PickleValue) => (typeof v === 'number' && Number.isInteger(v) ? v : undefined),
  arch: (v: PickleValue) => (typeof v === 'string' ? v : undefined),
  best_prec1: scalarOf,
  categories: (v: PickleValue) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v : undefined),
});

/**
 * Splits a loaded checkpoint into its state dict and the other top-level entries.
 * @param file what {@link readPth} / {@link parsePth} returned, or a root value
 * @param opts `source` for messages, `key` when the tensors are not under `state_dict`
 * @returns `{ stateDict, meta }`, with `meta.epoch`, `meta.arch`, `meta.best_prec1`, `meta.categories` when present
 * @throws {CheckpointError} `TSM_CHECKPOINT_KEY_MISSING` when no state dict is found (the message lists the top-level
 *   keys), `TSM_CHECKPOINT_FORMAT` when the state dict holds something other than tensors
 * @example
 * const { stateDict, meta } = extractStateDict(await readPth('tsm_resnet50.pth'));
 * meta.epoch; // 1
 */
export function extractStateDict(file: PthFile | PickleValue, opts: ExtractStateDictOptions = {}): ExtractedStateDict {
  const isFile = typeof file === 'object' && file !== null && 'root' in file && 'format' in file;
  const root = isFile ? (file as PthFile).root : (file as PickleValue);
  const source = opts.source ?? (isFile ? (file as PthFile).source : '<checkpoint>');
  if (!(root instanceof Map)) {
    throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source} holds a ${describePy(root)}, not a dict with a state_dict`);
  }
  const entries = [...root] as [unknown, PickleValue][];
  const key = opts.key ?? 'state_dict';
  let tensors: PickleValue | undefined = root.get(key);
  let metaEntries = entries.filter(([k]) => k !== key);
  if (tensors === undefined) {
    const allTensors = entries.length > 0 && entries.every(([k, v]) => typeof k === 'string' && isHostTensor(v));
    if (opts.key !== undefined || !allTensors) {
      const keys = entries.slice(0, 12).map(([k]) => JSON.stringify(k)).join(', ');
      throw new CheckpointError(
        'TSM_CHECKPOINT_KEY_MISSING',
        `${source} has no "${key}" entry and is not a plain state dict (top-level keys: ${keys || 'none'}` +
          `${entries.length > 12 ? ', ...' : ''}); pass { key } naming the entry that holds the tensors`,
      );
    }
    tensors = root;
    metaEntries = [];
  }
  if (!(tensors instanceof Map)) {
    throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: "${key}" is a ${describePy(tensors)}, not a dict of tensors`);
  }
  const stateDict = new Map<string, HostTensor>();
  for (const [k, v] of tensors) {
    if (typeof k !== 'string' || !isHostTensor(v)) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_FORMAT',
        `${source}: state dict entry ${JSON.stringify(String(k))} is a ${describePy(v)}, expected a tensor`,
      );
    }
    stateDict.set(k, v);
  }
  const meta: Record<string, PickleValue> = {};
  for (const [k, v] of metaEntries) {
    if (typeof k !== 'string') continue;
    const coerce = Object.hasOwn(TYPED_META, k) ? TYPED_META[k as keyof typeof TYPED_META] : undefined;
    const value = coerce ? coerce(v) : v;
    if (value !== undefined) Object.defineProperty(meta, k, { value, enumerable: true, writable: true, configurable: true });
  }
  return { stateDict, meta: meta as CheckpointMeta };
}

/**
 * Removes `prefix` from every key that starts with it (keys without it are kept as they are), e.g. the `module.`
 * that `DataParallel` adds.
 * @param stateDict tensors by key
 * @param prefix e.g. `'module.'` or `'module.base_model.'`
 * @returns a new Map in the same order
 * @throws {CheckpointError} `TSM_CHECKPOINT_FORMAT` when two keys become the same
 * @example
 * stripPrefix(stateDict, 'module.').get('base_model.conv1.weight');
 */
export function stripPrefix<T>(stateDict: ReadonlyMap<string, T>, prefix: string): Map<string, T> {
  const out = new Map<string, T>();
  for (const [k, v] of stateDict) {
    const nk = k.startsWith(prefix) ? k.slice(prefix.length) : k;
    if (out.has(nk)) {
      throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `stripping "${prefix}" turns two keys into "${nk}" (one of them is "${k}")`);
    }
    out.set(nk, v);
  }
  return out;
}
