/**
 * Minimal ZIP reading and writing for torch's zip checkpoints (`torch.save` since 1.6, which writes it through
 * miniz: stored entries, each record's data aligned to 64 bytes by padding the local header's extra field).
 *
 * Reading uses the central directory (ZIP64 included), returns stored records as views into the file bytes (no
 * copy), inflates deflated ones with fflate, and checks CRC-32s. Every size and offset is checked against the
 * file before use, so a corrupt archive ends in a {@link CheckpointError}, never a huge allocation. Browser-safe.
 */
import { inflateSync } from 'fflate';
import { CheckpointError } from '../errors.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
/** Deflate cannot expand data more than about 1032:1; a bigger claimed size is corrupt. */
const MAX_DEFLATE_RATIO = 1032;

/** One file in the archive, from the central directory. */
export interface ZipEntry {
  readonly name: string;
  /** 0 stored, 8 deflated. */
  readonly method: number;
  readonly crc32: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly localHeaderOffset: number;
  readonly flags: number;
}

/** Options of {@link ZipReader}. */
export interface ZipReadOptions {
  /** Check each record's CRC-32 when it is read. @default true */
  readonly verifyCrc?: boolean;
}

let crcTables: Uint32Array[] | undefined;

/** The 8 slicing-by-8 tables of ZIP's CRC-32 (polynomial 0xedb88320). */
function makeCrcTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[0][n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    for (let t = 1; t < 8; t++) tables[t][n] = (tables[0][tables[t - 1][n] & 0xff] ^ (tables[t - 1][n] >>> 8)) >>> 0;
  }
  return tables;
}

/**
 * CRC-32 (ZIP's polynomial), slicing by 8 bytes: about 1 GB/s in V8, so checking a 100 MB checkpoint costs
 * ~0.1 s. NOTE: plain JavaScript (not Node's zlib.crc32) so the zip code also runs in the browser.
 */
export function crc32(data: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = (crcTables ??= makeCrcTables());
  let c = 0xffffffff;
  let i = 0;
  const n8 = data.length - (data.length % 8);
  for (; i < n8; i += 8) {
    const a = (c ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24))) >>> 0;
    c =
      t7[a & 0xff] ^ t6[(a >>> 8) & 0xff] ^ t5[(a >>> 16) & 0xff] ^ t4[a >>> 24] ^
      t3[data[i + 4]] ^ t2[data[i + 5]] ^ t1[data[i + 6]] ^ t0[data[i + 7]];
  }
  for (; i < data.length; i++) c = t0[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Reads entries of a ZIP archive held in memory. */
export class ZipReader {
  /** Entries by name, in central-directory order. */
  readonly entries = new Map<string, ZipEntry>();
  private readonly dv: DataView;
  private readonly verifyCrc: boolean;

  /**
   * @param bytes the whole archive
   * @param source file name for error messages
   * @throws {CheckpointError} `TSM_CHECKPOINT_TRUNCATED` when the end-of-central-directory record is missing,
   *   `TSM_CHECKPOINT_FORMAT` for a malformed directory
   */
  constructor(
    private readonly bytes: Uint8Array,
    private readonly source: string,
    opts: ZipReadOptions = {},
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.verifyCrc = opts.verifyCrc ?? true;
    this.readDirectory();
  }

  private bad(what: string): CheckpointError {
    return new CheckpointError('TSM_CHECKPOINT_FORMAT', `${this.source}: corrupt zip archive: ${what}`);
  }

  private u16(at: number): number {
    return this.dv.getUint16(at, true);
  }

  private u32(at: number): number {
    return this.dv.getUint32(at, true);
  }

  private u64(at: number): number {
    const v = this.dv.getBigUint64(at, true);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  private readDirectory(): void {
    const n = this.bytes.length;
    // The end-of-central-directory record is the last 22 bytes plus a comment of at most 65535 bytes.
    let eocd = -1;
    for (let i = n - 22; i >= Math.max(0, n - 22 - 0xffff); i--) {
      if (this.u32(i) === SIG_EOCD && i + 22 + this.u16(i + 20) <= n) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_TRUNCATED',
        `${this.source}: zip archive has no end-of-central-directory record (truncated or incomplete download?)`,
      );
    }
    let count = this.u16(eocd + 10);
    let cdSize = this.u32(eocd + 12);
    let cdOffset = this.u32(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || this.u32(loc) !== SIG_ZIP64_LOCATOR) throw this.bad('ZIP64 sizes without a ZIP64 locator');
      const z64 = this.u64(loc + 8);
      if (z64 > n - 56 || this.u32(z64) !== SIG_ZIP64_EOCD) throw this.bad('bad ZIP64 end-of-central-directory offset');
      count = this.u64(z64 + 32);
      cdSize = this.u64(z64 + 40);
      cdOffset = this.u64(z64 + 48);
    }
    if (cdOffset > n || cdSize > n - cdOffset) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_TRUNCATED',
        `${this.source}: zip central directory (${cdSize} bytes at ${cdOffset}) lies past the end of the ${n}-byte file`,
      );
    }
    if (count > cdSize / 46) throw this.bad(`${count} entries cannot fit a ${cdSize}-byte central directory`);
    let p = cdOffset;
    const cdEnd = cdOffset + cdSize;
    for (let k = 0; k < count; k++) {
      if (p + 46 > cdEnd || this.u32(p) !== SIG_CENTRAL) throw this.bad(`central directory entry ${k} at byte ${p} is malformed`);
      const flags = this.u16(p + 8);
      const method = this.u16(p + 10);
      const crc = this.u32(p + 16);
      let compressedSize = this.u32(p + 20);
      let size = this.u32(p + 24);
      const nameLen = this.u16(p + 28);
      const extraLen = this.u16(p + 30);
      const commentLen = this.u16(p + 32);
      let localHeaderOffset = this.u32(p + 42);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > cdEnd) throw this.bad(`central directory entry ${k} runs past the directory`);
      const name = new TextDecoder().decode(this.bytes.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extra field (id 1): 8-byte values for each 32-bit field that is 0xffffffff, in this order.
      for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
        const id = this.u16(e);
        const len = this.u16(e + 2);
        let q = e + 4;
        const qEnd = Math.min(q + len, p + 46 + nameLen + extraLen);
        if (id === 1) {
          if (size === 0xffffffff && q + 8 <= qEnd) {
            size = this.u64(q);
            q += 8;
          }
          if (compressedSize === 0xffffffff && q + 8 <= qEnd) {
            compressedSize = this.u64(q);
            q += 8;
          }
          if (localHeaderOffset === 0xffffffff && q + 8 <= qEnd) localHeaderOffset = this.u64(q);
        }
        e += 4 + len;
      }
      if (!this.entries.has(name)) this.entries.set(name, { name, method, crc32: crc, compressedSize, size, localHeaderOffset, flags });
      p = next;
    }
  }

  /** Whether the archive has an entry called `name`. */
  has(name: string): boolean {
    return this.entries.has(name);
  }

  /**
   * The bytes of entry `name`: a view into the archive for stored entries, a new array for deflated ones.
   * @throws {CheckpointError} `TSM_CHECKPOINT_FORMAT` for a missing entry, an unsupported compression method or a
   *   CRC mismatch, `TSM_CHECKPOINT_TRUNCATED` when the data runs past the end of the file
   */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    if (!e) throw this.bad(`no entry named ${name}`);
    const n = this.bytes.length;
    const h = e.localHeaderOffset;
    if (h > n - 30 || this.u32(h) !== SIG_LOCAL) throw this.bad(`entry ${name}: no local header at byte ${h}`);
    if (e.flags & 1) throw this.bad(`entry ${name} is encrypted`);
    const start = h + 30 + this.u16(h + 26) + this.u16(h + 28);
    if (start > n || e.compressedSize > n - start) {
      throw new CheckpointError(
        'TSM_CHECKPOINT_TRUNCATED',
        `${this.source}: zip entry ${name} (${e.compressedSize} bytes at ${start}) runs past the end of the ${n}-byte file (truncated?)`,
      );
    }
    const raw = this.bytes.subarray(start, start + e.compressedSize);
    let data: Uint8Array;
    if (e.method === 0) {
      if (e.size !== e.compressedSize) throw this.bad(`stored entry ${name} has size ${e.size} but ${e.compressedSize} stored bytes`);
      data = raw;
    } else if (e.method === 8) {
      if (e.size > e.compressedSize * MAX_DEFLATE_RATIO + 64) {
        throw this.bad(`entry ${name} claims ${e.size} bytes from ${e.compressedSize} deflated bytes`);
      }
      try {
        data = inflateSync(raw, { out: new Uint8Array(e.size) });
      } catch (cause) {
        throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${this.source}: zip entry ${name} does not inflate: ${(cause as Error).message}`, {
          cause,
        });
      }
      if (data.length !== e.size) throw this.bad(`entry ${name} inflates to ${data.length} bytes, expected ${e.size}`);
    } else {
      throw this.bad(`entry ${name} uses compression method ${e.method} (only stored and deflate are supported)`);
    }
    if (this.verifyCrc && crc32(data) !== e.crc32) {
      throw this.bad(`CRC-32 mismatch in entry ${name} (the file is damaged)`);
    }
    return data;
  }
}

/** One record to write with {@link encodeZip}. */
export interface ZipRecord {
  readonly name: string;
  readonly data: Uint8Array;
}

/** Options of {@link encodeZip}. */
export interface ZipWriteOptions {
  /** Align each record's data to this many bytes, as torch does (64), so readers can map tensors in place. @default 64 */
  readonly align?: number;
}

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;

/**
 * Encodes records as an uncompressed ZIP archive with data aligned like torch's writer (padding in a `FB` extra
 * field of the local header).
 * @throws {CheckpointError} `TSM_CHECKPOINT_IO` when the archive would pass 4 GiB (ZIP64 writing is not supported)
 */
export function encodeZip(records: readonly ZipRecord[], opts: ZipWriteOptions = {}): Uint8Array {
  const align = opts.align ?? 64;
  const enc = new TextEncoder();
  const names = records.map((r) => enc.encode(r.name));
  // First pass: offsets and padding.
  const layout: { offset: number; extraLen: number; crc: number }[] = [];
  let offset = 0;
  records.forEach((r, i) => {
    const headerEnd = offset + 30 + names[i].length;
    // 4 = the padding field's own id and length
    const extraLen = align > 1 ? 4 + ((align - ((headerEnd + 4) % align)) % align) : 0;
    layout.push({ offset, extraLen, crc: crc32(r.data) });
    offset = headerEnd + extraLen + r.data.length;
  });
  const cdOffset = offset;
  const cdSize = names.reduce((s, nm) => s + 46 + nm.length, 0);
  const total = cdOffset + cdSize + 22;
  if (total > 0xffffffff || records.length > 0xffff) {
    throw new CheckpointError('TSM_CHECKPOINT_IO', `checkpoint would be ${total} bytes in ${records.length} records; writing ZIP64 (over 4 GiB) is not supported`);
  }
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  records.forEach((r, i) => {
    const { offset: o, extraLen } = layout[i];
    dv.setUint32(o, SIG_LOCAL, true);
    dv.setUint16(o + 4, 20, true); // version needed: 2.0
    dv.setUint16(o + 6, 0, true);
    dv.setUint16(o + 8, 0, true); // stored
    dv.setUint16(o + 10, 0, true);
    dv.setUint16(o + 12, DOS_DATE_1980_01_01, true);
    dv.setUint32(o + 14, layout[i].crc, true);
    dv.setUint32(o + 18, r.data.length, true);
    dv.setUint32(o + 22, r.data.length, true);
    dv.setUint16(o + 26, names[i].length, true);
    dv.setUint16(o + 28, extraLen, true);
    out.set(names[i], o + 30);
    let p = o + 30 + names[i].length;
    if (extraLen > 0) {
      dv.setUint16(p, 0x4246, true); // "FB", torch's padding field, filled with 'Z' as torch's miniz does
      dv.setUint16(p + 2, extraLen - 4, true);
      out.fill(0x5a, p + 4, p + extraLen);
      p += extraLen;
    }
    out.set(r.data, p);
  });
  let p = cdOffset;
  records.forEach((r, i) => {
    dv.setUint32(p, SIG_CENTRAL, true);
    dv.setUint16(p + 4, 20, true);
    dv.setUint16(p + 6, 20, true);
    dv.setUint16(p + 8, 0, true);
    dv.setUint16(p + 10, 0, true);
    dv.setUint16(p + 12, 0, true);
    dv.setUint16(p + 14, DOS_DATE_1980_01_01, true);
    dv.setUint32(p + 16, layout[i].crc, true);
    dv.setUint32(p + 20, r.data.length, true);
    dv.setUint32(p + 24, r.data.length, true);
    dv.setUint16(p + 28, names[i].length, true);
    // extra, comment, disk, internal and external attributes stay 0
    dv.setUint32(p + 42, layout[i].offset, true);
    out.set(names[i], p + 46);
    p += 46 + names[i].length;
  });
  dv.setUint32(p, SIG_EOCD, true);
  dv.setUint16(p + 8, records.length, true);
  dv.setUint16(p + 10, records.length, true);
  dv.setUint32(p + 12, cdSize, true);
  dv.setUint32(p + 16, cdOffset, true);
  return out;
}
