/**
 * Fuzzing the checkpoint reader: thousands of mutated copies (byte flips, truncations, insertions, deletions) of
 * small checkpoints in both formats, of their pickle alone (re-zipped, so CRCs still match and the unpickler sees
 * the damage), and of the first kilobytes of the real fixtures. Every outcome must be a parse result or a
 * CheckpointError: never another exception, never a hang, never a huge allocation.
 */
import assert from 'node:assert/strict';
import { openSync, readSync, closeSync } from 'node:fs';
import { test } from 'node:test';
import { parsePth } from '../../src/checkpoint/pth-reader.js';
import { encodePth } from '../../src/checkpoint/pth-writer.js';
import { NumpyDType, OrderedDict, PyTuple, type PickleValue, pyFloat } from '../../src/checkpoint/py-values.js';
import { extractStateDict } from '../../src/checkpoint/state-dict.js';
import { ZipReader, encodeZip } from '../../src/checkpoint/zip.js';
import { CheckpointError } from '../../src/errors.js';
import { float32, hostTensor } from '../../src/tensor/index.js';
import { fixturePath } from '../helpers/fixtures.js';
import { makeRng } from '../helpers/rng.js';

type Rng = ReturnType<typeof makeRng>;

/** A small checkpoint with a bit of everything the reader handles. */
function smallCheckpoint(format: 'zip' | 'legacy'): Uint8Array {
  const shared = new Float32Array([1, 2, 3, 4, 5, 6]);
  const sd = new OrderedDict<string, PickleValue>([
    ['conv.weight', hostTensor('float32', [2, 3], shared)],
    ['conv.flat', hostTensor('float32', [6], shared)],
    ['bn.running_var', float32([3], [0.5, 1, 2])],
    ['bn.num_batches_tracked', hostTensor('int64', [], new BigInt64Array([7n]))],
    ['half', hostTensor('float16', [2, 2], new Uint16Array([0x3c00, 0x4000, 0xc000, 0x0001]))],
    ['mask', hostTensor('bool', [3], new Uint8Array([1, 0, 1]))],
  ]);
  sd.attrs = new Map<string, PickleValue>([['_metadata', new OrderedDict([['', new Map([['version', 1]])], ['bn', new Map([['version', 2]])]])]]);
  const dt = new NumpyDType('f8');
  return encodePth(
    {
      root: new Map<string, PickleValue>([
        ['epoch', 3],
        ['arch', 'mobilenetv2'],
        ['state_dict', sd],
        ['optimizer', new Map<string, PickleValue>([
          ['state', new Map<number, PickleValue>([[0, new Map([['momentum_buffer', float32([2], [0.1, 0.2])]])]]) as unknown as PickleValue],
          ['param_groups', [{ lr: 0.01, betas: new PyTuple([0.9, 0.999]), params: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }]],
        ])],
        ['best_prec1', pyFloat(12.5)],
        ['misc', [null, true, -1, 2n ** 70n, 'héllo', new Uint8Array([0, 255]), dt, new PyTuple([1, 2, 3, 4])]],
      ]),
    },
    { format },
  );
}

/** Applies 1-3 random mutations; returns the bytes and a description for failure messages. */
function mutate(src: Uint8Array, rng: Rng): { bytes: Uint8Array; how: string } {
  let b = src;
  const steps: string[] = [];
  for (let k = 0, n = 1 + rng.int(3); k < n; k++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(6)) {
      case 0: {
        b = b.slice();
        const flips = 1 + rng.int(4);
        for (let f = 0; f < flips; f++) b[rng.int(b.length)] ^= 1 + rng.int(255);
        steps.push(`flip ${flips}`);
        break;
      }
      case 1: {
        b = b.slice();
        const v = [0, 0xff, 0x7f, 0x80, 1, 2, 0x28, 0x2e][rng.int(8)];
        b[Math.min(at, b.length - 1)] = v;
        steps.push(`set ${at}=${v}`);
        break;
      }
      case 2:
        b = b.subarray(0, at);
        steps.push(`truncate ${at}`);
        break;
      case 3: {
        const ins = Uint8Array.from({ length: 1 + rng.int(8) }, () => rng.int(256));
        b = concat(b.subarray(0, at), ins, b.subarray(at));
        steps.push(`insert ${ins.length}@${at}`);
        break;
      }
      case 4: {
        const len = 1 + rng.int(16);
        b = concat(b.subarray(0, at), b.subarray(at + len));
        steps.push(`delete ${len}@${at}`);
        break;
      }
      default: {
        const len = 1 + rng.int(32);
        const from = rng.int(Math.max(1, b.length - len));
        b = concat(b.subarray(0, at), b.subarray(from, from + len), b.subarray(at));
        steps.push(`dup ${len} from ${from}@${at}`);
      }
    }
  }
  return { bytes: b, how: steps.join(', ') };
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function head(path: string, n: number): Uint8Array {
  const fd = openSync(path, 'r');
  const buf = new Uint8Array(n);
  const got = readSync(fd, buf, 0, n, 0);
  closeSync(fd);
  return buf.subarray(0, got);
}

/** Parses `bytes`; any error other than a CheckpointError fails the test with the way to reproduce it. */
function outcome(bytes: Uint8Array, what: string): 'ok' | 'error' {
  try {
    const file = parsePth(bytes, 'fuzz.pth');
    try {
      extractStateDict(file);
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
    }
    return 'ok';
  } catch (e) {
    if (e instanceof CheckpointError) {
      assert.ok(e.message.includes('fuzz.pth'), `${what}: message does not name the file: ${e.message}`);
      return 'error';
    }
    const sample = bytes.length <= 4096 ? ` input (base64): ${Buffer.from(bytes).toString('base64')}` : '';
    assert.fail(`${what}: threw ${(e as Error)?.stack ?? String(e)}${sample}`);
  }
}

/** Rebuilds a zip checkpoint with a different data.pkl (fresh CRCs, so the damage reaches the unpickler). */
function withPickle(zip: Uint8Array, pickle: Uint8Array): Uint8Array {
  const z = new ZipReader(zip, 'x');
  return encodeZip([...z.entries.keys()].map((name) => ({ name, data: name.endsWith('/data.pkl') ? pickle : z.read(name) })));
}

test('mutated checkpoints parse or fail with a CheckpointError, never anything else', { timeout: 120_000 }, () => {
  const zip = smallCheckpoint('zip');
  const legacy = smallCheckpoint('legacy');
  const pickle = new ZipReader(zip, 'x').read('archive/data.pkl');
  // The unmutated inputs parse.
  assert.equal(outcome(zip, 'zip'), 'ok');
  assert.equal(outcome(legacy, 'legacy'), 'ok');
  const legacyHead = head(fixturePath('tsm_mobilenetv2_legacy.pth'), 64 * 1024);
  const heads = ['tsm_mobilenetv2.pth', 'tsm_resnet50.pth', 'online_mobilenetv2_state_dict.pth'].map((f) => head(fixturePath(f), 4096));
  const corpora: { name: string; runs: number; make: (rng: Rng) => { bytes: Uint8Array; how: string } }[] = [
    { name: 'small zip', runs: 1500, make: (rng) => mutate(zip, rng) },
    { name: 'small legacy', runs: 1500, make: (rng) => mutate(legacy, rng) },
    {
      name: 'zip pickle',
      runs: 1500,
      make: (rng) => {
        const m = mutate(pickle, rng);
        return { bytes: withPickle(zip, m.bytes), how: `pickle: ${m.how}` };
      },
    },
    { name: 'legacy fixture head', runs: 300, make: (rng) => mutate(legacyHead, rng) },
    { name: 'fixture heads', runs: 300, make: (rng) => mutate(heads[rng.int(heads.length)], rng) },
  ];
  const counts: Record<string, { ok: number; error: number }> = {};
  for (const [c, corpus] of corpora.entries()) {
    const rng = makeRng(0xc0ffee + c);
    counts[corpus.name] = { ok: 0, error: 0 };
    for (let i = 0; i < corpus.runs; i++) {
      const { bytes, how } = corpus.make(rng);
      counts[corpus.name][outcome(bytes, `${corpus.name} #${i} (${how})`)]++;
    }
  }
  // Both outcomes happen: the mutations reach past the first checks, and some damage goes unnoticed (flipped weights).
  for (const [name, { ok, error }] of Object.entries(counts)) {
    assert.ok(error > 0, `${name}: no mutation was rejected (${JSON.stringify(counts)})`);
    if (!name.includes('head')) assert.ok(ok > 0, `${name}: no mutation parsed (${JSON.stringify(counts)})`);
  }
});

test('every prefix of the small checkpoints is rejected as a CheckpointError', () => {
  for (const format of ['zip', 'legacy'] as const) {
    const bytes = smallCheckpoint(format);
    for (let n = 0; n < bytes.length; n++) {
      assert.equal(outcome(bytes.subarray(0, n), `${format} prefix ${n}`), 'error', `${format} prefix of ${n} bytes parsed`);
    }
  }
});
