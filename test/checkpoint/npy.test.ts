import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { encodeNpy, parseNpy, readNpy, writeNpy } from '../../src/checkpoint/npy.js';
import { CheckpointError } from '../../src/errors.js';
import { type DType, type HostTensor, allocTyped, hostTensor } from '../../src/tensor/index.js';
import { fixtureCase, fixturePath } from '../helpers/fixtures.js';
import { runPython } from '../helpers/python.js';

const dir = mkdtempSync(join(tmpdir(), 'tsm-npy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function sample(dtype: DType, shape: number[]): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = allocTyped(dtype, n);
  for (let i = 0; i < n; i++) {
    if (data instanceof BigInt64Array) data[i] = BigInt(i * 1_000_003 - 7) * 1_000_000_007n;
    else if (dtype === 'bool') data[i] = i % 3 === 0 ? 1 : 0;
    else if (dtype === 'float16') data[i] = 0x3c00 + i; // 1.0, then the next halves
    else (data as Float32Array)[i] = dtype.startsWith('float') ? i * 0.37 - 2 : (i * 7) % 100 - 50;
  }
  if (dtype === 'uint8') for (let i = 0; i < n; i++) (data as Uint8Array)[i] = (i * 37) & 0xff;
  return hostTensor(dtype, shape, data);
}

const ALL: DType[] = ['float32', 'float64', 'float16', 'int64', 'int32', 'int8', 'uint8', 'bool'];

test('encodeNpy -> parseNpy keeps dtype, shape and bytes for every dtype', () => {
  for (const dtype of ALL) {
    for (const shape of [[2, 3, 4], [5], [], [0, 3]]) {
      const t = sample(dtype, shape);
      const bytes = encodeNpy(t);
      assert.equal((bytes.length - t.data.byteLength) % 64, 0, 'header padded to 64 bytes');
      const back = parseNpy(bytes, 'x.npy');
      assert.equal(back.dtype, dtype);
      assert.deepEqual(back.shape, shape);
      assert.deepEqual(back.data, t.data, `${dtype} [${shape}]`);
    }
  }
});

test('parseNpy copies out of a Node Buffer at any offset (Buffer#slice would be a misaligned view)', () => {
  const t = sample('float64', [3]);
  const bytes = encodeNpy(t);
  const odd = Buffer.concat([Buffer.from([7]), Buffer.from(bytes)]).subarray(1);
  const back = parseNpy(odd, 'odd.npy');
  assert.deepEqual(back.data, t.data);
  assert.notEqual(back.data.buffer, odd.buffer);
});

test('readNpy reads the shared shift_op fixture with the manifest shape', async () => {
  const c = fixtureCase('shift_op');
  const t = await readNpy(fixturePath((c.files as Record<string, string>).x));
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.shape, c.input_shape);
  // The header says 16*16*4*4 float32; the file is header + exactly that.
  assert.equal(readFileSync(fixturePath('shift_op_x.npy')).length - t.data.byteLength, 128);
});

test('numpy reads what encodeNpy writes, and we read numpy files (Fortran order, versions 2 and 3)', () => {
  const ours = join(dir, 'ours.npy');
  const t = sample('float32', [2, 3, 4]);
  return writeNpy(ours, t).then(async () => {
    const out = runPython(
      `import numpy as np, sys
a = np.load(sys.argv[1]); print(a.dtype, *a.shape, float(a.sum()))
b = np.asfortranarray(np.arange(24, dtype='<i8').reshape(2, 3, 4) - 5); np.save(sys.argv[2], b)
c = np.arange(6, dtype='<f8').reshape(3, 2) / 4
with open(sys.argv[3], 'wb') as f: np.lib.format.write_array(f, c, version=(2, 0))
with open(sys.argv[4], 'wb') as f: np.lib.format.write_array(f, c.astype('<f2'), version=(3, 0))`,
      [ours, join(dir, 'f.npy'), join(dir, 'v2.npy'), join(dir, 'v3.npy')],
    );
    const sum = Array.from(t.data as Float32Array).reduce((a, b) => a + b, 0);
    const [dtype, d0, d1, d2, sumText] = out.trim().split(' ');
    assert.deepEqual([dtype, d0, d1, d2], ['float32', '2', '3', '4']);
    assert.ok(Math.abs(Number(sumText) - sum) < 1e-3, `numpy sum ${sumText} vs ${sum}`);

    const f = await readNpy(join(dir, 'f.npy'));
    assert.deepEqual(f.shape, [2, 3, 4]);
    assert.deepEqual(Array.from(f.data as BigInt64Array, Number), Array.from({ length: 24 }, (_, i) => i - 5), 'Fortran order becomes C order');
    const v2 = await readNpy(join(dir, 'v2.npy'));
    assert.deepEqual([...(v2.data as Float64Array)], [0, 0.25, 0.5, 0.75, 1, 1.25]);
    const v3 = await readNpy(join(dir, 'v3.npy'));
    assert.equal(v3.dtype, 'float16');
    assert.deepEqual([...(v3.data as Uint16Array)], [0x0000, 0x3400, 0x3800, 0x3a00, 0x3c00, 0x3d00]);
  });
});

/** `bytes` with one same-length piece of its header text replaced. */
function withHeader(bytes: Uint8Array, from: string, to: string): Uint8Array {
  const text = Array.from(bytes.subarray(0, 128), (b) => String.fromCharCode(b)).join('');
  const at = text.indexOf(from);
  assert.ok(at > 0 && from.length === to.length);
  const out = bytes.slice();
  for (let i = 0; i < to.length; i++) out[at + i] = to.charCodeAt(i);
  return out;
}

test('parseNpy names the file and the problem for bad input', () => {
  const good = encodeNpy(sample('float32', [4, 4]));
  const cases: [Uint8Array, string, RegExp][] = [
    [new Uint8Array([1, 2, 3]), 'TSM_CHECKPOINT_FORMAT', /bad\.npy: not a valid \.npy file \(missing \\x93NUMPY magic\)/],
    [good.subarray(0, 40), 'TSM_CHECKPOINT_TRUNCATED', /bad\.npy: \.npy header runs past the end/],
    [good.subarray(0, good.length - 1), 'TSM_CHECKPOINT_TRUNCATED', /shape \[4,4\] needs 64 bytes, file has 63/],
    [Uint8Array.from(good, (b, i) => (i === 6 ? 9 : b)), 'TSM_CHECKPOINT_FORMAT', /unsupported format version 9/],
    [withHeader(good, "'<f4'", "'>f4'"), 'TSM_CHECKPOINT_FORMAT', /unsupported dtype '>f4'/],
    [withHeader(good, "'shape'", "'shope'"), 'TSM_CHECKPOINT_FORMAT', /unreadable header/],
  ];
  for (const [bytes, code, message] of cases) {
    assert.throws(() => parseNpy(bytes, 'bad.npy'), (e: unknown) => e instanceof CheckpointError && e.code === code && message.test(e.message));
  }
});

test('readNpy of a missing file is TSM_CHECKPOINT_IO naming the path', async () => {
  const p = join(dir, 'nope.npy');
  await assert.rejects(readNpy(p), (e: unknown) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_IO' && e.message.includes(p));
});
