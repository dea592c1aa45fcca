/**
 * Reads PyTorch `.pth` checkpoints in both formats torch.save has written:
 * - zip (torch >= 1.6): `<folder>/data.pkl` plus one `<folder>/data/<key>` record per storage;
 * - legacy (torch < 1.6, or `_use_new_zipfile_serialization=False`): five pickles in a row (magic number,
 *   protocol version, sys_info, the object, the storage keys), then each storage as an int64 element count and
 *   its raw bytes, in key-list order.
 * See torch/serialization.py (`_load`, `_legacy_load`). Browser-safe: reading a file is `readPth` in ./read-file.ts.
 */
import { CheckpointError } from '../errors.js';
import { DTYPE_SIZE } from '../tensor/index.js';
import { plainBytes, plainDataHooks, unpickle } from './pickle-reader.js';
import { type PickleValue, PyTuple, TorchStorage, describePy } from './py-values.js';
import { TorchUnpickleHooks } from './torch-globals.js';
import { ZipReader } from './zip.js';

/** `torch.serialization.MAGIC_NUMBER`, the first pickle of a legacy file. */
export const LEGACY_MAGIC_NUMBER = 0x1950a86a20f9469cfc6cn;
/** `torch.serialization.PROTOCOL_VERSION`, the second pickle of a legacy file. */
export const LEGACY_PROTOCOL_VERSION = 1001;

/** The two on-disk formats of torch.save. */
export type PthFormat = 'zip' | 'legacy';

/** A parsed checkpoint: whatever object was saved, with every tensor as a {@link HostTensor}. */
export interface PthFile {
  readonly format: PthFormat;
  /** The saved object: usually a dict (`Map`) such as `{epoch, arch, state_dict, best_prec1}` or a state dict. */
  readonly root: PickleValue;
  /** The file name used in messages. */
  readonly source: string;
}

/** Options of {@link parsePth} and {@link readPth}. */
export interface ReadPthOptions {
  /** Check the CRC-32 of every zip record, so a damaged file fails instead of loading wrong weights. @default true */
  readonly verifyCrc?: boolean;
  /** Read Python floats as `PyFloat` (not numbers), so integral floats like `1.0` write back as floats. @default false */
  readonly keepFloats?: boolean;
}

const WHAT_WE_READ = 'a torch.save checkpoint';

/**
 * Parses the bytes of a `.pth` file (zip or legacy format).
 * @param source file name for error messages
 * @throws {CheckpointError} `TSM_CHECKPOINT_FORMAT` (not a checkpoint, corrupt, missing storage),
 *   `TSM_CHECKPOINT_TRUNCATED`, `TSM_CHECKPOINT_GLOBAL` (a global outside the allow-list), `TSM_CHECKPOINT_SHAPE`
 *   (a tensor that does not fit its storage)
 */
export function parsePth(bytes: Uint8Array, source = '<buffer>', opts: ReadPthOptions = {}): PthFile {
  bytes = plainBytes(bytes);
  if (bytes.length === 0) throw new CheckpointError('TSM_CHECKPOINT_TRUNCATED', `${source} is empty (expected ${WHAT_WE_READ})`);
  if (bytes[0] === 0x50 && bytes[1] === 0x4b) return { format: 'zip', root: parseZip(bytes, source, opts), source };
  if (bytes[0] === 0x80) return { format: 'legacy', root: parseLegacy(bytes, source, opts), source };
  if (bytes.length > 262 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw new CheckpointError(
      'TSM_CHECKPOINT_FORMAT',
      `${source} is a tar archive: the tar-based format of torch < 0.4 is not supported; load and re-save it with a newer torch`,
    );
  }
  const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new CheckpointError(
    'TSM_CHECKPOINT_FORMAT',
    `${source} is not a PyTorch checkpoint: it starts with bytes ${head}, expected a zip archive ("PK") or a legacy pickle (80 02)`,
  );
}

function parseZip(bytes: Uint8Array, source: string, opts: ReadPthOptions): PickleValue {
  const zip = new ZipReader(bytes, source, { verifyCrc: opts.verifyCrc });
  // torch names the top folder after the saved file (e.g. "tsm_resnet50/") or "archive/"; any name works.
  const pkl = [...zip.entries.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!pkl) {
    const names = [...zip.entries.keys()];
    const listing = names.slice(0, 5).join(', ') + (names.length > 5 ? `, ... (${names.length} entries)` : '');
    const jit = names.some((n) => /\/constants\.pkl$|\/code\//.test(n)) ? ' It looks like a TorchScript archive (torch.jit.save);' : '';
    throw new CheckpointError(
      'TSM_CHECKPOINT_FORMAT',
      `${source} is a zip archive without <folder>/data.pkl, so not ${WHAT_WE_READ} (entries: ${listing || 'none'}).${jit} ` +
        'Load it in PyTorch and re-save the state_dict with torch.save',
    );
  }
  const folder = pkl.slice(0, -'/data.pkl'.length);
  let bigEndian = false;
  if (zip.has(`${folder}/byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${folder}/byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: unknown byteorder record "${order.slice(0, 20)}"`);
    bigEndian = order === 'big';
  }
  const hooks = new TorchUnpickleHooks(source, (storage) => {
    const record = `${folder}/data/${storage.key}`;
    if (!zip.has(record)) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_FORMAT',
        `${source}: storage ${storage.key} (${storage.dtype}[${storage.numel}]) has no record ${record} in the archive`,
      );
    }
    storage.bytes = storageBytes(zip.read(record), storage, source, bigEndian);
  });
  const { value } = unpickle(zip.read(pkl), hooks, { source: `${source}:${pkl}`, keepFloats: opts.keepFloats });
  hooks.materialize();
  return value;
}

function parseLegacy(bytes: Uint8Array, source: string, opts: ReadPthOptions): PickleValue {
  const notCheckpoint = (what: string, cause?: unknown) =>
    new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source} is not ${WHAT_WE_READ}: ${what}`, { cause });
  let magic: PickleValue;
  let pos: number;
  try {
    ({ value: magic, end: pos } = unpickle(bytes, plainDataHooks(source), { source }));
  } catch (cause) {
    throw notCheckpoint('it starts with a pickle, but not with the legacy magic number', cause);
  }
  if (magic !== LEGACY_MAGIC_NUMBER) throw notCheckpoint(`wrong magic number ${String(magic).slice(0, 40)} (a plain pickle?)`);
  const version = unpickle(bytes, plainDataHooks(source), { source, start: pos });
  if (version.value !== LEGACY_PROTOCOL_VERSION) {
    throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: unsupported legacy protocol version ${describePy(version.value)} ${String(version.value).slice(0, 20)} (expected ${LEGACY_PROTOCOL_VERSION})`);
  }
  const sysInfo = unpickle(bytes, plainDataHooks(source), { source, start: version.end });
  const littleEndian = sysInfo.value instanceof Map ? sysInfo.value.get('little_endian') : undefined;
  if (typeof littleEndian !== 'boolean') throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: legacy sys_info has no little_endian flag`);

  const hooks = new TorchUnpickleHooks(source);
  const main = unpickle(bytes, hooks, { source, start: sysInfo.end, keepFloats: opts.keepFloats });
  const keyList = unpickle(bytes, plainDataHooks(source), { source, start: main.end });
  const keys = Array.isArray(keyList.value) ? keyList.value : keyList.value instanceof PyTuple ? keyList.value.items : undefined;
  if (!keys) throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: the legacy storage key list is a ${describePy(keyList.value)}, not a list`);

  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = keyList.end;
  for (const rawKey of keys) {
    const key = typeof rawKey === 'number' ? String(rawKey) : rawKey;
    const storage = typeof key === 'string' ? hooks.storages.get(key) : undefined;
    if (!storage) throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: the storage list names ${describePy(rawKey)} ${String(rawKey)}, which no tensor uses`);
    if (pos + 8 > bytes.length) {
      throw new CheckpointError('TSM_CHECKPOINT_TRUNCATED', `${source} ends before the data of storage ${storage.key} (byte ${pos} of ${bytes.length}; truncated file?)`);
    }
    const count = dv.getBigInt64(pos, littleEndian);
    if (count !== BigInt(storage.numel)) {
      throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: storage ${storage.key} holds ${count} elements on disk, the pickle says ${storage.numel}`);
    }
    const n = storage.numel * DTYPE_SIZE[storage.dtype];
    if (pos + 8 + n > bytes.length) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_TRUNCATED',
        `${source}: storage ${storage.key} needs ${n} bytes at byte ${pos + 8}, the file has ${bytes.length - pos - 8} left (truncated file?)`,
      );
    }
    storage.bytes = storageBytes(bytes.subarray(pos + 8, pos + 8 + n), storage, source, !littleEndian);
    pos += 8 + n;
  }
  hooks.materialize();
  return main.value;
}

/** Checks a storage record's length and returns its bytes in little-endian order. */
function storageBytes(record: Uint8Array, storage: TorchStorage, source: string, bigEndian: boolean): Uint8Array {
  const size = DTYPE_SIZE[storage.dtype];
  const n = storage.numel * size;
  if (record.length < n) {
    throw new CheckpointError(
      'TSM_CHECKPOINT_TRUNCATED',
      `${source}: storage ${storage.key} (${storage.dtype}[${storage.numel}]) needs ${n} bytes, its record has ${record.length}`,
    );
  }
  const data = record.subarray(0, n);
  if (!bigEndian || size === 1) return data;
  const swapped = new Uint8Array(n);
  for (let i = 0; i < n; i += size) for (let j = 0; j < size; j++) swapped[i + j] = data[i + size - 1 - j];
  return swapped;
}
