/**
 * numpy `.npy` files (format versions 1.0-3.0, little-endian, C order): read into and write from
 * {@link HostTensor}s. Fortran-ordered arrays are transposed into C order on read.
 */
import { CheckpointError } from '../errors.js';
import { type DType, type HostTensor, DTYPE_SIZE, allocTyped, hostTensor, numel, typedFromBytes } from '../tensor/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readCheckpointFile } from './read-file.js';

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const DESCR_TO_DTYPE: Readonly<Record<string, DType>> = Object.freeze({
  '<f4': 'float32',
  '<f8': 'float64',
  '<f2': 'float16',
  '<i8': 'int64',
  '<i4': 'int32',
  '|i1': 'int8',
  '|u1': 'uint8',
  '|b1': 'bool',
});
const DTYPE_TO_DESCR: Readonly<Record<DType, string>> = Object.freeze(
  Object.fromEntries(Object.entries(DESCR_TO_DTYPE).map(([k, v]) => [v, k])) as Record<DType, string>,
);

/**
 * Parses `.npy` bytes.
 * @param source the file name, used in error messages
 * @throws {CheckpointError} `TSM_CHECKPOINT_FORMAT` for a bad magic, header or dtype, `TSM_CHECKPOINT_TRUNCATED`
 *   when the data is shorter than the header says
 */
export function parseNpy(bytes: Uint8Array, source = '<buffer>'): HostTensor {
  const bad = (what: string) => new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: not a valid .npy file (${what})`);
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad('missing \\x93NUMPY magic');
  const major = bytes[6];
  const headerLenSize = major === 1 ? 2 : 4;
  if (major < 1 || major > 3) throw bad(`unsupported format version ${major}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = headerLenSize === 2 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const headerStart = 8 + headerLenSize;
  if (headerStart + headerLen > bytes.length) {
    throw new CheckpointError('TSM_CHECKPOINT_TRUNCATED', `${source}: .npy header runs past the end of the file`);
  }
  const header = new TextDecoder('latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad(`unreadable header ${header.trim()}`);
  const dtype = DESCR_TO_DTYPE[descr];
  if (!dtype) throw bad(`unsupported dtype '${descr}' (supported: ${Object.keys(DESCR_TO_DTYPE).join(', ')})`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`bad shape (${shapeText})`);
  const n = numel(shape);
  const dataStart = headerStart + headerLen;
  const byteLen = n * DTYPE_SIZE[dtype];
  if (dataStart + byteLen > bytes.length) {
    throw new CheckpointError(
      'TSM_CHECKPOINT_TRUNCATED',
      `${source}: .npy data is truncated (shape [${shape.join(',')}] needs ${byteLen} bytes, file has ${bytes.length - dataStart})`,
    );
  }
  // NOTE: Uint8Array.prototype.slice, not bytes.slice: on a Node Buffer that returns a view (possibly misaligned).
  const data = typedFromBytes(dtype, Uint8Array.prototype.slice.call(bytes, dataStart, dataStart + byteLen));
  const t = hostTensor(dtype, shape, data);
  return fortran === 'True' ? fortranToC(t) : t;
}

function fortranToC(t: HostTensor): HostTensor {
  const { shape } = t;
  const n = t.data.length;
  const out = allocTyped(t.dtype, n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  // Walk the Fortran-ordered source (first index fastest) and place each element at its C offset.
  for (let f = 0; f < n; f++) {
    let c = 0;
    for (let d = 0; d < rank; d++) c = c * shape[d] + idx[d];
    (out as unknown as Array<number | bigint>)[c] = (t.data as unknown as Array<number | bigint>)[f];
    for (let d = 0; d < rank; d++) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return hostTensor(t.dtype, shape, out);
}

/** Reads a `.npy` file. Node only. @throws {CheckpointError} naming the file */
export async function readNpy(path: string): Promise<HostTensor> {
  return parseNpy(await readCheckpointFile(path), path);
}

/** Encodes a tensor as `.npy` (version 1.0) bytes. */
export function encodeNpy(t: HostTensor): Uint8Array {
  const shapeText = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(', ')})`;
  let header = `{'descr': '${DTYPE_TO_DESCR[t.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const data = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(data, 10 + header.length);
  return out;
}

/** Writes a tensor to a `.npy` file atomically. Node only. */
export async function writeNpy(path: string, t: HostTensor): Promise<void> {
  await writeFileAtomic(path, encodeNpy(t));
}
