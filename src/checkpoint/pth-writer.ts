/**
 * Writes `.pth` checkpoints that `torch.load` reads back exactly: the zip format of torch >= 1.6 by default
 * (`archive/data.pkl`, `archive/data/<key>`, `archive/version`, `archive/byteorder`), or the legacy stream.
 * The pickle is what torch's `_save` writes for tensors: `_rebuild_tensor_v2(<storage persistent id>, offset,
 * size, stride, requires_grad, OrderedDict())`.
 */
import { CheckpointError, UsageError } from '../errors.js';
import { type HostTensor, numel } from '../tensor/index.js';
import { OP, PickleWriter, encodePickle } from './pickle-writer.js';
import { LEGACY_MAGIC_NUMBER, LEGACY_PROTOCOL_VERSION, type PthFormat } from './pth-reader.js';
import { OrderedDict, TorchStorage, type PickleValue, isHostTensor } from './py-values.js';
import { contiguousStrides } from './strided.js';
import { DTYPE_STORAGES } from './torch-globals.js';
import { encodeZip } from './zip.js';

/** A state dict: tensors by key, in order (a `Map` or a plain object). */
export type StateDictLike = ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>;

/** A training checkpoint: the state dict plus top-level entries such as `epoch`, `arch`, `best_prec1`, `optimizer`. */
export interface CheckpointContents {
  /** Written as an OrderedDict under `state_dict`, or as the whole file when `meta` is omitted. */
  readonly stateDict: StateDictLike;
  /**
   * Other top-level entries, in order. Omit it to save a plain state dict (like `torch.save(model.state_dict())`).
   * `state_dict` is placed right after `arch` (TSM main.py's order: epoch, arch, state_dict, optimizer, best_prec1),
   * or first when there is no `arch`. Entries that are `undefined` are left out.
   * @example { epoch: 1, arch: 'resnet50', optimizer: sgd.stateDict(), best_prec1: pyFloat(12.5) }
   */
  readonly meta?: Readonly<Record<string, PickleValue | undefined>>;
}

/** Any object to save as is, e.g. the `root` of a file read with `readPth`. */
export interface RootContents {
  readonly root: PickleValue;
}

/** Options of {@link encodePth} and {@link writePth}. */
export interface WritePthOptions {
  /** `zip` (torch >= 1.6) or `legacy` (readable by every torch version). @default 'zip' */
  readonly format?: PthFormat;
  /** Top folder inside the zip. @default 'archive' */
  readonly archiveName?: string;
}

interface StorageRecord {
  readonly key: string;
  readonly storageType: string;
  readonly numel: number;
  readonly bytes: Uint8Array;
}

/** Builds the object to pickle from {@link CheckpointContents}. */
function rootOf(contents: CheckpointContents | RootContents): PickleValue {
  if ('root' in contents) return contents.root;
  const sd = new OrderedDict<string, PickleValue>();
  const entries = contents.stateDict instanceof Map ? [...contents.stateDict] : Object.entries(contents.stateDict);
  for (const [k, t] of entries) {
    if (!isHostTensor(t)) throw new UsageError(`stateDict["${k}"] is not a HostTensor ({ dtype, shape, data })`);
    sd.set(k, t);
  }
  if (!contents.meta) return sd;
  const root = new Map<string, PickleValue>();
  const meta = Object.entries(contents.meta).filter((e): e is [string, PickleValue] => e[1] !== undefined);
  if (meta.some(([k]) => k === 'state_dict')) throw new UsageError('meta must not contain "state_dict"; pass the tensors as stateDict');
  if (!meta.some(([k]) => k === 'arch')) root.set('state_dict', sd);
  for (const [k, v] of meta) {
    root.set(k, v);
    if (k === 'arch') root.set('state_dict', sd);
  }
  return root;
}

/**
 * Encodes a checkpoint as `.pth` bytes.
 * @param contents `{ stateDict, meta }`, or `{ root }` for any object
 * @param opts `format` (default `'zip'`), `archiveName` (default `'archive'`)
 * @returns the file's bytes
 * @throws {UsageError} for values that cannot be saved; {@link CheckpointError} `TSM_CHECKPOINT_SHAPE` for a tensor
 *   whose data length does not match its shape
 * @example
 * const bytes = encodePth({ stateDict, meta: { epoch: 1, arch: 'resnet50', best_prec1: pyFloat(12.5) } });
 */
export function encodePth(contents: CheckpointContents | RootContents, opts: WritePthOptions = {}): Uint8Array {
  const format = opts.format ?? 'zip';
  if (format !== 'zip' && format !== 'legacy') throw UsageError.expected('format', "'zip' or 'legacy'", format);
  const legacy = format === 'legacy';
  const storages: StorageRecord[] = [];
  const byData = new Map<object, StorageRecord>();

  const storageFor = (owner: object, storageType: string, count: number, bytes: Uint8Array): StorageRecord => {
    let s = byData.get(owner);
    if (!s || s.storageType !== storageType) {
      s = { key: String(storages.length), storageType, numel: count, bytes };
      storages.push(s);
      byData.set(owner, s);
    }
    return s;
  };
  const writePersistentId = (w: PickleWriter, s: StorageRecord) => {
    // ('storage', torch.FloatStorage, key, 'cpu', numel) — legacy files add view_metadata (None).
    w.op(OP.MARK);
    w.str('storage');
    w.global('torch', s.storageType);
    w.str(s.key);
    w.str('cpu');
    w.int(s.numel);
    if (legacy) w.op(OP.NONE);
    w.op(OP.TUPLE);
    w.op(OP.BINPERSID);
  };
  const writeTensor = (w: PickleWriter, t: HostTensor) => {
    const n = numel(t.shape);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || n !== t.data.length) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_SHAPE',
        `cannot save a ${t.dtype} tensor of shape [${t.shape.join(', ')}] (${n} elements) with ${t.data.length} data elements`,
      );
    }
    // Tensors that share one typed array share one storage, as views of one torch storage would.
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const s = storageFor(t.data, DTYPE_STORAGES[t.dtype], t.data.length, bytes);
    w.global('torch._utils', '_rebuild_tensor_v2');
    w.op(OP.MARK);
    writePersistentId(w, s);
    w.int(0); // storage_offset
    w.tuple(t.shape);
    w.tuple(contiguousStrides(t.shape));
    w.op(OP.NEWFALSE); // requires_grad
    w.global('collections', 'OrderedDict'); // backward_hooks: always empty (torch's "Don't serialize hooks")
    w.op(OP.EMPTY_TUPLE);
    w.op(OP.REDUCE);
    w.op(OP.TUPLE);
    w.op(OP.REDUCE);
  };
  const special = (v: object, w: PickleWriter): boolean => {
    if (isHostTensor(v)) {
      writeTensor(w, v);
      return true;
    }
    if (v instanceof TorchStorage) {
      if (!v.bytes) throw new UsageError(`storage ${v.key} has no data to save`);
      writePersistentId(w, storageFor(v, DTYPE_STORAGES[v.dtype], v.numel, v.bytes));
      return true;
    }
    return false;
  };

  const pickle = encodePickle(rootOf(contents), { special });
  if (!legacy) {
    const dir = opts.archiveName ?? 'archive';
    if (!/^[^/\\]+$/.test(dir)) throw UsageError.expected('archiveName', 'a folder name without slashes', dir);
    return encodeZip([
      { name: `${dir}/data.pkl`, data: pickle },
      { name: `${dir}/byteorder`, data: new TextEncoder().encode('little') },
      ...storages.map((s) => ({ name: `${dir}/data/${s.key}`, data: s.bytes })),
      { name: `${dir}/version`, data: new TextEncoder().encode('3\n') },
    ]);
  }
  // Legacy: magic, protocol version, sys_info, the object, the storage keys, then each storage (torch _legacy_save).
  const parts: Uint8Array[] = [
    encodePickle(LEGACY_MAGIC_NUMBER),
    encodePickle(LEGACY_PROTOCOL_VERSION),
    encodePickle(
      new Map<string, PickleValue>([
        ['protocol_version', LEGACY_PROTOCOL_VERSION],
        ['little_endian', true],
        ['type_sizes', new Map<string, PickleValue>([['short', 2], ['int', 4], ['long', 4]])],
      ]),
    ),
    pickle,
    encodePickle(storages.map((s) => s.key)),
  ];
  for (const s of storages) {
    const count = new Uint8Array(8);
    new DataView(count.buffer).setBigInt64(0, BigInt(s.numel), true);
    parts.push(count, s.bytes);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
