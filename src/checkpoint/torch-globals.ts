/**
 * The allow-list of Python globals a checkpoint may name, and what each one does when the pickle calls it. This
 * is the whole of what loading a checkpoint can "run": rebuilding tensors from storages, making OrderedDicts and
 * namespaces, and decoding numpy scalars. Anything else is refused by name (`TSM_CHECKPOINT_GLOBAL`).
 *
 * Mirrors torch/_utils.py (`_rebuild_tensor_v2`, `_rebuild_parameter`) and the persistent ids written by
 * torch/serialization.py (`_save`, `_legacy_save`).
 */
import { CheckpointError } from '../errors.js';
import { type DType, type HostTensor, DTYPE_SIZE, allocTyped, halfToFloat } from '../tensor/index.js';
import type { UnpickleHooks } from './pickle-reader.js';
import {
  NumpyDType,
  OrderedDict,
  PyGlobal,
  PyTuple,
  TorchStorage,
  type PickleValue,
  describePy,
  isHostTensor,
  isPyKey,
  isPyRecord,
  pyInt,
} from './py-values.js';
import { gatherStrided } from './strided.js';

/** torch storage class name → element type (`torch.FloatStorage` holds float32). */
export const STORAGE_DTYPES: Readonly<Record<string, DType>> = Object.freeze({
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
});

/** dtype → the storage class torch writes for it. */
export const DTYPE_STORAGES: Readonly<Record<DType, string>> = Object.freeze({
  float32: 'FloatStorage',
  float64: 'DoubleStorage',
  float16: 'HalfStorage',
  int64: 'LongStorage',
  int32: 'IntStorage',
  int8: 'CharStorage',
  uint8: 'ByteStorage',
  bool: 'BoolStorage',
});

/** Modules that storage classes live in (`torch.cuda.FloatStorage` in checkpoints saved by torch <= 0.4 from GPU). */
const STORAGE_MODULES = new Set(['torch', 'torch.cuda', 'torch.storage']);

/** Callable globals and what they build. */
const CALLABLES = Object.freeze([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  'torch._utils._rebuild_parameter_with_state',
  'torch.Size',
  'argparse.Namespace',
  'numpy.dtype',
  'numpy.core.multiarray.scalar',
  'numpy._core.multiarray.scalar', // numpy >= 2
  '_codecs.encode',
] as const);

/** Every global a checkpoint may reference, for error messages. */
export const ALLOWED_GLOBALS: readonly string[] = Object.freeze([
  ...CALLABLES,
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/** A tensor/view is refused when its dense copy would pass this. */
const MAX_TENSOR_BYTES = 2 ** 31 - 1;
/** A view bigger than its storage (zero or overlapping strides, e.g. a saved `expand`) may grow at most to this. */
const MAX_EXPANDED_BYTES = 256 * 2 ** 20;
const MAX_RANK = 64;

const NUMPY_SCALARS: Readonly<Record<string, { size: number; read: (dv: DataView, le: boolean) => PickleValue }>> = Object.freeze({
  f8: { size: 8, read: (dv, le) => dv.getFloat64(0, le) },
  f4: { size: 4, read: (dv, le) => dv.getFloat32(0, le) },
  f2: { size: 2, read: (dv, le) => halfToFloat(dv.getUint16(0, le)) },
  i8: { size: 8, read: (dv, le) => pyInt(dv.getBigInt64(0, le)) },
  u8: { size: 8, read: (dv, le) => pyInt(dv.getBigUint64(0, le)) },
  i4: { size: 4, read: (dv, le) => dv.getInt32(0, le) },
  u4: { size: 4, read: (dv, le) => dv.getUint32(0, le) },
  i2: { size: 2, read: (dv, le) => dv.getInt16(0, le) },
  u2: { size: 2, read: (dv, le) => dv.getUint16(0, le) },
  i1: { size: 1, read: (dv) => dv.getInt8(0) },
  u1: { size: 1, read: (dv) => dv.getUint8(0) },
  b1: { size: 1, read: (dv) => dv.getUint8(0) !== 0 },
});

interface MutableTensor {
  dtype: DType;
  shape: number[];
  data: HostTensor['data'];
}

interface PendingTensor {
  readonly tensor: MutableTensor;
  readonly storage: TorchStorage;
  readonly offset: number;
  readonly stride: readonly number[];
}

/**
 * Unpickle hooks for torch checkpoints. Storages come from persistent ids; tensors are created empty while the
 * pickle is read and filled by {@link TorchUnpickleHooks.materialize} once the storage bytes are known (the legacy
 * format stores them after the pickle).
 */
export class TorchUnpickleHooks implements UnpickleHooks {
  /** Every storage the pickle referenced, by key. */
  readonly storages = new Map<string, TorchStorage>();
  private readonly views = new Map<TorchStorage, { root: TorchStorage; offset: number }>();
  private readonly viewsByKey = new Map<string, TorchStorage>();
  private readonly pending: PendingTensor[] = [];
  private readonly globals = new Map<string, PyGlobal>();

  /**
   * @param source file name for error messages
   * @param onStorage called once per new (root) storage, e.g. to read its zip record right away
   */
  constructor(
    private readonly source: string,
    private readonly onStorage: (storage: TorchStorage) => void = () => {},
  ) {}

  private bad(what: string): CheckpointError {
    return new CheckpointError('TSM_CHECKPOINT_FORMAT', `${this.source}: ${what}`);
  }

  findGlobal(module: string, name: string): PickleValue {
    const qualified = `${module}.${name}`;
    let g = this.globals.get(qualified);
    if (g) return g;
    const isStorage = STORAGE_MODULES.has(module) && name.endsWith('Storage');
    if (isStorage && !Object.hasOwn(STORAGE_DTYPES, name)) {
      throw this.bad(
        `storage type ${qualified} is not supported (supported: ${Object.keys(STORAGE_DTYPES).join(', ')}); ` +
          'convert the checkpoint to float32 in PyTorch first',
      );
    }
    if (!isStorage && !(CALLABLES as readonly string[]).includes(qualified)) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_GLOBAL',
        `${this.source}: refusing to load global ${qualified}: checkpoints may only reference tensors, storages and ` +
          `plain containers (allowed: ${ALLOWED_GLOBALS.join(', ')}). If the file pickles a whole model or ` +
          'optimizer object, re-save its state_dict() with torch.save; if you did not make this file, do not trust it',
      );
    }
    g = new PyGlobal(module, name);
    this.globals.set(qualified, g);
    return g;
  }

  call(callable: PickleValue, args: readonly PickleValue[]): PickleValue {
    if (!(callable instanceof PyGlobal)) throw this.bad(`the pickle calls a ${describePy(callable)}, which is not callable`);
    const fn = callable.qualifiedName;
    switch (fn) {
      case 'collections.OrderedDict':
        return this.orderedDict(args);
      case 'torch._utils._rebuild_tensor_v2': // (storage, offset, size, stride, requires_grad, backward_hooks[, metadata])
        this.arity(fn, args, 6, 7);
        return this.rebuildTensor(args[0], args[1], args[2], args[3]);
      case 'torch._utils._rebuild_tensor': // (storage, offset, size, stride)
        this.arity(fn, args, 4, 4);
        return this.rebuildTensor(args[0], args[1], args[2], args[3]);
      case 'torch._utils._rebuild_parameter': // (data, requires_grad, backward_hooks)
      case 'torch._utils._rebuild_parameter_with_state': // (data, requires_grad, backward_hooks, state)
        this.arity(fn, args, fn.endsWith('state') ? 4 : 3, fn.endsWith('state') ? 4 : 3);
        if (!isHostTensor(args[0])) throw this.bad(`${fn} expects a tensor, got ${describePy(args[0])}`);
        return args[0];
      case 'torch.Size':
        this.arity(fn, args, 0, 1);
        if (args.length === 0) return new PyTuple([]);
        if (!(args[0] instanceof PyTuple) && !Array.isArray(args[0])) throw this.bad(`torch.Size expects a tuple, got ${describePy(args[0])}`);
        return new PyTuple(args[0] instanceof PyTuple ? args[0].items : args[0]);
      case 'argparse.Namespace':
        this.arity(fn, args, 0, 0);
        return Object.create(null) as PickleValue;
      case 'numpy.dtype':
        this.arity(fn, args, 1, 3);
        if (typeof args[0] !== 'string') throw this.bad(`numpy.dtype expects a type string, got ${describePy(args[0])}`);
        return new NumpyDType(args[0]);
      case 'numpy.core.multiarray.scalar':
      case 'numpy._core.multiarray.scalar':
        this.arity(fn, args, 2, 2);
        return this.numpyScalar(args[0], args[1]);
      case '_codecs.encode':
        this.arity(fn, args, 1, 2);
        return this.encode(args[0], args[1] ?? 'utf-8');
      default:
        throw this.bad(`${fn} is a type reference and cannot be called in a checkpoint`);
    }
  }

  build(obj: PickleValue, state: PickleValue): void {
    if (obj instanceof OrderedDict) {
      if (state === null) return;
      obj.attrs = this.stringKeyed(state, 'OrderedDict attributes');
    } else if (obj instanceof NumpyDType) {
      // numpy's dtype state: (version, byteorder, subarray, names, fields, elsize, alignment, flags)
      const order = state instanceof PyTuple ? state.items[1] : undefined;
      if (typeof order !== 'string' || !['<', '>', '|', '='].includes(order)) throw this.bad('bad numpy.dtype state');
      obj.byteorder = order;
    } else if (isHostTensor(obj)) {
      // _rebuild_parameter_with_state / tensor subclasses carry Python attributes; weights need none of them.
    } else if (obj !== null && typeof obj === 'object' && Object.getPrototypeOf(obj) === null) {
      for (const [k, v] of this.stringKeyed(state, 'namespace attributes')) {
        Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
      }
    } else {
      throw this.bad(`cannot set the state of a ${describePy(obj)} (BUILD)`);
    }
  }

  persistentLoad(pid: PickleValue): PickleValue {
    // ('storage', storage_type, key, location, numel) in zip files; legacy files add view_metadata.
    const items = pid instanceof PyTuple ? pid.items : [];
    if (items[0] !== 'storage' || items.length < 5 || items.length > 6) {
      throw this.bad(
        `unsupported persistent id ${describePy(pid)}${typeof items[0] === 'string' ? ` "${items[0]}"` : ''} ` +
          "(only ('storage', ...) ids are supported; 'module' ids mean the file pickles a whole nn.Module)",
      );
    }
    const [, type, rawKey, location, count, view] = items;
    if (!(type instanceof PyGlobal) || !Object.hasOwn(STORAGE_DTYPES, type.name) || !STORAGE_MODULES.has(type.module)) {
      throw this.bad(`unknown storage type ${describePy(type)} in a storage id`);
    }
    const dtype = STORAGE_DTYPES[type.name];
    const key = typeof rawKey === 'number' ? String(rawKey) : rawKey;
    if (typeof key !== 'string' || typeof location !== 'string') throw this.bad('a storage id needs a string key and location');
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      throw this.bad(`storage ${key} has an invalid element count ${String(count)}`);
    }
    let storage = this.storages.get(key);
    if (!storage) {
      storage = new TorchStorage(key, dtype, count, location);
      this.storages.set(key, storage);
      this.onStorage(storage);
    } else if (storage.dtype !== dtype || storage.numel !== count) {
      throw this.bad(`storage ${key} is used as ${dtype}[${count}] and as ${storage.dtype}[${storage.numel}]`);
    }
    if (view === undefined || view === null) return storage;
    // Legacy storage views (torch < 0.4): (view_key, offset, size) into the root storage.
    const [viewKey, offset, size] = view instanceof PyTuple ? view.items : [];
    if (typeof viewKey !== 'string' || !isIndex(offset) || !isIndex(size) || offset + size > storage.numel) {
      throw this.bad(`bad view of storage ${key}: ${describePy(view)}`);
    }
    let v = this.viewsByKey.get(viewKey);
    if (!v) {
      v = new TorchStorage(viewKey, dtype, size, location);
      this.viewsByKey.set(viewKey, v);
      this.views.set(v, { root: storage, offset });
    }
    return v;
  }

  /** Fills every tensor's data from its storage. Call once all storages have `bytes`. */
  materialize(): void {
    for (const [view, { root, offset }] of this.views) {
      if (root.bytes) {
        const size = DTYPE_SIZE[root.dtype];
        view.bytes = root.bytes.subarray(offset * size, (offset + view.numel) * size);
      }
    }
    for (const { tensor, storage, offset, stride } of this.pending) {
      if (!storage.bytes) {
        throw this.bad(`the data of storage ${storage.key} (${storage.dtype}[${storage.numel}]) is missing from the file`);
      }
      tensor.data = gatherStrided(tensor.dtype, storage.bytes, offset, tensor.shape, stride);
    }
    this.pending.length = 0;
  }

  private arity(fn: string, args: readonly PickleValue[], min: number, max: number): void {
    if (args.length < min || args.length > max) {
      throw this.bad(`${fn} takes ${min === max ? min : `${min} to ${max}`} arguments, got ${args.length}`);
    }
  }

  private orderedDict(args: readonly PickleValue[]): OrderedDict {
    this.arity('collections.OrderedDict', args, 0, 1);
    const od = new OrderedDict();
    const pairs = args[0];
    if (pairs === undefined) return od;
    if (!Array.isArray(pairs)) throw this.bad(`OrderedDict expects a list of pairs, got ${describePy(pairs)}`);
    for (const pair of pairs) {
      const kv = pair instanceof PyTuple ? pair.items : Array.isArray(pair) ? pair : [];
      if (kv.length !== 2 || !isPyKey(kv[0])) throw this.bad('OrderedDict items must be (key, value) pairs');
      od.set(kv[0], kv[1]);
    }
    return od;
  }

  private rebuildTensor(storage: PickleValue, offset: PickleValue, size: PickleValue, stride: PickleValue): HostTensor {
    if (!(storage instanceof TorchStorage)) throw this.bad(`a tensor needs a storage, got ${describePy(storage)}`);
    const shape = this.intTuple(size, 'size');
    const strides = this.intTuple(stride, 'stride');
    const where = `tensor of shape [${shape.join(', ')}] on storage ${storage.key}`;
    if (!isIndex(offset)) throw this.bad(`${where}: bad storage offset ${describePy(offset)}`);
    if (shape.length !== strides.length) throw this.bad(`${where}: ${strides.length} strides for ${shape.length} dims`);
    let n = 1;
    let last = offset;
    for (let d = 0; d < shape.length; d++) {
      n *= shape[d];
      last += (shape[d] - 1) * strides[d];
    }
    const bytes = n * DTYPE_SIZE[storage.dtype];
    if (n > 0 && last >= storage.numel) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_SHAPE',
        `${this.source}: ${where} (offset ${offset}, stride [${strides.join(', ')}]) reaches element ${last} of a ${storage.numel}-element storage`,
      );
    }
    const storageBytes = storage.numel * DTYPE_SIZE[storage.dtype];
    if (bytes > MAX_TENSOR_BYTES || (bytes > storageBytes && bytes > MAX_EXPANDED_BYTES)) {
      throw new CheckpointError('TSM_CHECKPOINT_SHAPE', `${this.source}: ${where} would need ${bytes} bytes; refusing to allocate it`);
    }
    const tensor: MutableTensor = { dtype: storage.dtype, shape, data: allocTyped(storage.dtype, 0) };
    this.pending.push({ tensor, storage, offset, stride: strides });
    return tensor as HostTensor;
  }

  private intTuple(v: PickleValue, what: string): number[] {
    const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
    if (!items || items.length > MAX_RANK || !items.every(isIndex)) {
      throw this.bad(`a tensor ${what} must be a tuple of at most ${MAX_RANK} non-negative ints, got ${describePy(v)}`);
    }
    return items as number[];
  }

  private numpyScalar(dtype: PickleValue, data: PickleValue): PickleValue {
    if (!(dtype instanceof NumpyDType)) throw this.bad(`numpy scalar needs a dtype, got ${describePy(dtype)}`);
    const descr = dtype.descr.replace(/^[<>|=]/, '');
    const kind = NUMPY_SCALARS[descr];
    if (!kind) throw this.bad(`numpy scalar of dtype ${dtype.descr} is not supported (supported: ${Object.keys(NUMPY_SCALARS).join(', ')})`);
    const bytes = typeof data === 'string' ? this.encode(data, 'latin1') : data;
    if (!(bytes instanceof Uint8Array) || bytes.length !== kind.size) {
      throw this.bad(`numpy ${descr} scalar needs ${kind.size} bytes, got ${describePy(data)}`);
    }
    const order = dtype.descr[0] === '>' || dtype.byteorder === '>' ? '>' : '<';
    return kind.read(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), order === '<');
  }

  private encode(text: PickleValue, encoding: PickleValue): Uint8Array {
    if (typeof text !== 'string' || typeof encoding !== 'string') throw this.bad('_codecs.encode expects (str, str)');
    const enc = encoding.toLowerCase().replace(/[-_]/g, '');
    if (enc === 'utf8') return new TextEncoder().encode(text);
    if (enc !== 'latin1' && enc !== 'iso88591') throw this.bad(`_codecs.encode with encoding ${encoding} is not supported`);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c > 0xff) throw this.bad('_codecs.encode: text does not fit latin1');
      out[i] = c;
    }
    return out;
  }

  private stringKeyed(state: PickleValue, what: string): Map<string, PickleValue> {
    // BUILD state is a dict, or (dict, slots) for objects with __slots__.
    const dict = state instanceof PyTuple && state.items.length === 2 ? state.items[0] : state;
    const entries = dict instanceof Map ? [...dict] : isPyRecord(dict) ? Object.entries(dict) : undefined;
    if (!entries || !entries.every(([k]) => typeof k === 'string')) throw this.bad(`${what} must be a dict with string keys`);
    return new Map(entries as [string, PickleValue][]);
  }
}

function isIndex(v: PickleValue | undefined): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
