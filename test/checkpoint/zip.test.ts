import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ZipReader, crc32, encodeZip } from '../../src/checkpoint/zip.js';
import { CheckpointError } from '../../src/errors.js';
import { runPython } from '../helpers/python.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-zip-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const text = (s: string) => new TextEncoder().encode(s);
const RECORDS = [
  { name: 'archive/data.pkl', data: text('pickle bytes') },
  { name: 'archive/data/0', data: Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 0xff) },
  { name: 'archive/data/1', data: new Uint8Array(0) },
  { name: 'archive/version', data: text('3\n') },
];

test('crc32 matches zlib', () => {
  const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff);
  const want = runPython(`import zlib\nprint(zlib.crc32(bytes((i * 31) & 255 for i in range(5000))))`).trim();
  assert.equal(crc32(data), Number(want));
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('Python zipfile reads what encodeZip writes, and every record starts on a 64-byte boundary', () => {
  const path = join(dir, 'ours.zip');
  writeFileSync(path, encodeZip(RECORDS));
  const out = runPython(
    `import zipfile, sys
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
for i in z.infolist():
    z.fp.seek(i.header_offset + 26)  # local header: name and extra-field lengths
    n, e = int.from_bytes(z.fp.read(2), 'little'), int.from_bytes(z.fp.read(2), 'little')
    print(i.filename, i.compress_type, len(z.read(i)), (i.header_offset + 30 + n + e) % 64)`,
    [path],
  );
  assert.deepEqual(
    out.trim().split('\n'),
    RECORDS.map((r) => `${r.name} 0 ${r.data.length} 0`),
  );
});

test('ZipReader reads stored, deflated and ZIP64 entries written by Python', () => {
  const path = join(dir, 'py.zip');
  runPython(
    `import zipfile, sys
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('top/stored', b'abc' * 100, compress_type=zipfile.ZIP_STORED)
    z.writestr('top/deflated', b'xyz' * 1000, compress_type=zipfile.ZIP_DEFLATED)
    with z.open('top/zip64', 'w', force_zip64=True) as f: f.write(b'0123456789')`,
    [path],
  );
  const zip = new ZipReader(readFileSync(path), 'py.zip');
  assert.deepEqual([...zip.entries.keys()], ['top/stored', 'top/deflated', 'top/zip64']);
  assert.equal(new TextDecoder().decode(zip.read('top/stored')), 'abc'.repeat(100));
  assert.equal(new TextDecoder().decode(zip.read('top/deflated')), 'xyz'.repeat(1000));
  assert.equal(new TextDecoder().decode(zip.read('top/zip64')), '0123456789');
  assert.equal(zip.entries.get('top/deflated')?.method, 8);
});

/** Rewrites an archive's end record as ZIP64 (a ZIP64 end record and locator before it, 0xffff.. markers in it). */
function asZip64(zip: Uint8Array): Uint8Array {
  const eocd = zip.length - 22;
  const dv = new DataView(zip.buffer, zip.byteOffset);
  const count = dv.getUint16(eocd + 10, true);
  const cdSize = dv.getUint32(eocd + 12, true);
  const cdOffset = dv.getUint32(eocd + 16, true);
  const out = new Uint8Array(zip.length + 56 + 20);
  out.set(zip.subarray(0, eocd));
  const o = new DataView(out.buffer);
  let p = eocd;
  o.setUint32(p, 0x06064b50, true);
  o.setBigUint64(p + 4, 44n, true);
  o.setBigUint64(p + 24, BigInt(count), true);
  o.setBigUint64(p + 32, BigInt(count), true);
  o.setBigUint64(p + 40, BigInt(cdSize), true);
  o.setBigUint64(p + 48, BigInt(cdOffset), true);
  p += 56;
  o.setUint32(p, 0x07064b50, true);
  o.setBigUint64(p + 8, BigInt(eocd), true);
  o.setUint32(p + 16, 1, true);
  p += 20;
  out.set(zip.subarray(eocd), p);
  o.setUint16(p + 8, 0xffff, true);
  o.setUint16(p + 10, 0xffff, true);
  o.setUint32(p + 12, 0xffffffff, true);
  o.setUint32(p + 16, 0xffffffff, true);
  return out;
}

test('ZipReader round-trips encodeZip, also with a ZIP64 end record', () => {
  for (const bytes of [encodeZip(RECORDS), asZip64(encodeZip(RECORDS)), encodeZip(RECORDS, { align: 1 })]) {
    const zip = new ZipReader(bytes, 'ours.zip');
    for (const r of RECORDS) assert.deepEqual(zip.read(r.name), r.data, r.name);
  }
});

test('damaged archives fail with a CheckpointError that names the file and the problem', () => {
  const good = encodeZip(RECORDS);
  const flip = (at: number) => Uint8Array.from(good, (b, i) => (i === at ? b ^ 0xff : b));
  const dataAt = Buffer.from(good).indexOf('pickle bytes');
  const dv = new DataView(good.buffer);
  const cd = dv.getUint32(good.length - 22 + 16, true);
  const withCentral = (offset: number, set: (d: DataView, p: number) => void) => {
    const b = good.slice();
    set(new DataView(b.buffer), cd + offset);
    return b;
  };
  const cases: [Uint8Array, string, RegExp, string?][] = [
    [good.subarray(0, good.length - 10), 'TSM_CHECKPOINT_TRUNCATED', /no end-of-central-directory record/],
    [good.subarray(0, 100), 'TSM_CHECKPOINT_TRUNCATED', /no end-of-central-directory record/],
    [flip(dataAt), 'TSM_CHECKPOINT_FORMAT', /CRC-32 mismatch in entry archive\/data\.pkl/, 'archive/data.pkl'],
    [withCentral(10, (d, p) => d.setUint16(p, 12, true)), 'TSM_CHECKPOINT_FORMAT', /compression method 12/, 'archive/data.pkl'],
    [withCentral(8, (d, p) => d.setUint16(p, 1, true)), 'TSM_CHECKPOINT_FORMAT', /is encrypted/, 'archive/data.pkl'],
    [withCentral(20, (d, p) => d.setUint32(p, 1e9, true)), 'TSM_CHECKPOINT_TRUNCATED', /runs past the end/, 'archive/data.pkl'],
    [
      withCentral(10, (d, p) => {
        d.setUint16(p, 8, true);
        d.setUint32(p + 14, 4e9, true);
      }),
      'TSM_CHECKPOINT_FORMAT',
      /claims 4000000000 bytes from 12 deflated bytes/,
      'archive/data.pkl',
    ],
    [withCentral(42, (d, p) => d.setUint32(p, 7, true)), 'TSM_CHECKPOINT_FORMAT', /no local header at byte 7/, 'archive/data.pkl'],
    [withCentral(0, (d, p) => d.setUint32(p, 0, true)), 'TSM_CHECKPOINT_FORMAT', /central directory entry 0/],
  ];
  for (const [bytes, code, message, entry] of cases) {
    assert.throws(
      () => {
        const zip = new ZipReader(bytes, 'bad.pth');
        if (entry) zip.read(entry);
      },
      (e: unknown) => e instanceof CheckpointError && e.code === code && message.test(e.message) && e.message.startsWith('bad.pth'),
      `${code} ${message}`,
    );
  }
  assert.deepEqual(new ZipReader(flip(dataAt), 'x', { verifyCrc: false }).read('archive/data.pkl')[0], text('pickle bytes')[0] ^ 0xff);
});
