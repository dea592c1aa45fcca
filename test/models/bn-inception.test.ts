import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { extractStateDict, readNpy, readPth } from '../../src/checkpoint/index.js';
import { ShapeError, UsageError } from '../../src/errors.js';
import { type Dim, GraphBuilder, encodeOnnx, sym } from '../../src/graph/index.js';
import { BNInception, BN_INCEPTION_INPUT, INCEPTION_BLOCKS, inceptionOutChannels, shiftBNInception } from '../../src/models/bn-inception.js';
import { Dropout } from '../../src/nn/index.js';
import { createSession } from '../../src/runtime/index.js';
import type { HostTensor } from '../../src/tensor/index.js';
import { assertWithin, describeBound, maxAbsDiff } from '../helpers/assert-close.js';
import { U32, U64 } from '../helpers/fp32-bounds.js';

const PYTHON = process.env.TSM_PYTHON ?? '/usr/bin/python3';
const REF = join(dirname(fileURLToPath(import.meta.url)), 'ref', 'bninception_ref.py');
const N_SEGMENT = 2;
const NUM_CLASSES = 10;
const dir = mkdtempSync(join(tmpdir(), 'tsm-bninception-'));
let stateDict: Map<string, HostTensor>;

before(async () => {
  // Random weights, inputs and float64 logits from the PyTorch reference (written from archs/bn_inception.py).
  const r = spawnSync(PYTHON, [REF, dir, '--num-classes', String(NUM_CLASSES), '--n-segment', String(N_SEGMENT)], { encoding: 'utf8', timeout: 900_000 });
  if (r.error || r.status !== 0) throw new Error(`${PYTHON} ${REF} failed (needs PyTorch; scripts/install-system-deps.sh): ${r.error?.message ?? r.stderr}`);
  stateDict = extractStateDict(await readPth(join(dir, 'state_dict.pth'))).stateDict;
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Logits of `net` for `input` through onnxruntime; `batch` may be symbolic. */
async function run(net: BNInception, input: HostTensor, batch: Dim = input.shape[0]): Promise<Float32Array> {
  const g = new GraphBuilder();
  g.output(net.forward(g, g.input('x', 'float32', [batch, 3, 224, 224])), 'logits');
  const session = await createSession(encodeOnnx(g.build()), { threads: 2 });
  const out = await session.run({ x: input });
  await session.release();
  return out.logits.data as Float32Array;
}

/**
 * The fp32 rounding-error budget of each float64 reference logit (test/helpers/fp32_budget.py): LAMBDA times its
 * Monte Carlo sigma floored at the median, plus the float64 reference's own error (the same budget at u = 2^-53).
 */
async function boundFor(stem: 'plain' | 'shift'): Promise<number[]> {
  const sigma = (await readNpy(join(dir, `sigma_${stem}.npy`))).data as Float64Array;
  const { lambda } = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { lambda: number };
  const median = Array.from(sigma).sort((p, q) => p - q)[Math.floor(sigma.length / 2)];
  return Array.from(sigma, (s) => lambda * Math.max(s, median) * (1 + U64 / U32));
}

test('keys, order and shapes match the PyTorch layout (conv1_7x7_s2 ... fc)', () => {
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { keys: [string, number[]][] };
  const ours = [...new BNInception({ numClasses: NUM_CLASSES }).nameParameters().stateDict()].map(([k, t]) => [k, [...t.shape]]);
  assert.deepEqual(ours, meta.keys);
  assert.deepEqual(ours.slice(0, 3).map(([k]) => k), ['conv1_7x7_s2.weight', 'conv1_7x7_s2.bias', 'conv1_7x7_s2_bn.weight']);
  assert.deepEqual(ours.slice(-2).map(([k]) => k), ['fc.weight', 'fc.bias']);
  assert.equal(inceptionOutChannels(INCEPTION_BLOCKS[INCEPTION_BLOCKS.length - 1]), 1024);
});

test('BNInception logits match the PyTorch reference (1x3x224x224)', async (t) => {
  const net = new BNInception({ numClasses: NUM_CLASSES }).nameParameters();
  net.loadStateDict(stateDict, { source: 'state_dict.pth' });
  assert.equal(net.featureDim, 1024);
  assert.equal(net.lastLayerName, 'fc');
  const ref = (await readNpy(join(dir, 'logits_plain.npy'))).data as Float64Array;
  const ours = await run(net, await readNpy(join(dir, 'input_plain.npy')));
  t.diagnostic(`max |logit| ${Math.max(...Array.from(ref, Math.abs)).toFixed(1)}`);
  t.diagnostic(describeBound('logits vs float64', assertWithin(ours, ref, await boundFor('plain'), 'logits')));
});

test("shiftBNInception(net, 2, 8, 'block') matches the reference's build_temporal_ops shift, with a symbolic batch", async (t) => {
  const net = shiftBNInception(new BNInception({ numClasses: NUM_CLASSES }).nameParameters(), N_SEGMENT, 8, 'block');
  assert.equal(net.isTemporalShift, '011111111111');
  net.loadStateDict(stateDict);
  const ref = (await readNpy(join(dir, 'logits_shift.npy'))).data as Float64Array;
  const input = await readNpy(join(dir, 'input_shift.npy'));
  const ours = await run(net, input, sym('B', N_SEGMENT));
  t.diagnostic(describeBound('shifted logits vs float64', assertWithin(ours, ref, await boundFor('shift'), 'shifted logits')));
  // The shift matters: with it turned off the same frames give other logits.
  net.isTemporalShift = '0'.repeat(12);
  assert.ok(maxAbsDiff(await run(net, input), ref) > 1, 'unshifted logits should differ from shifted ones');
});

test('TSN can swap fc for Dropout: the fc keys go away and forward returns the 1024 features', () => {
  const net = new BNInception();
  net.fc = new Dropout(0.5);
  net.nameParameters();
  assert.ok(![...net.stateDict().keys()].some((k) => k.startsWith('fc.')));
  const g = new GraphBuilder();
  assert.deepEqual(net.forward(g, g.input('x', 'float32', [sym('B'), 3, 224, 224])).shape, [sym('B'), 1024]);
});

test('bad shift places and input sizes are refused with the reason', () => {
  const net = new BNInception().nameParameters();
  assert.throws(() => shiftBNInception(net, 8, 8, 'blockres'), (e: unknown) => e instanceof UsageError && /_block_2 maps 64 to 192 channels.*Use shift place 'block'/.test(e.message));
  assert.throws(() => shiftBNInception(net, 8, 8, '0101'), (e: unknown) => e instanceof UsageError && /12 characters of 0\/1/.test(e.message));
  assert.equal(shiftBNInception(net, 8, 4, '111000000001').isTemporalShift, '011000000001');
  const g = new GraphBuilder();
  const plain = new BNInception().nameParameters();
  assert.throws(() => plain.forward(g, g.input('x', 'float32', [1, 3, 256, 256])), (e: unknown) => e instanceof ShapeError && /\[1,1024,8,8\].*must be 7x7/.test(e.message));
  assert.deepEqual(BN_INCEPTION_INPUT.inputMean, [104, 117, 128]);
  assert.equal(BN_INCEPTION_INPUT.channelOrder, 'BGR');
});
