import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, type Value, encodeOnnx, sym } from '../../src/graph/index.js';
import { TemporalPool, TemporalShift, makeTemporalShift } from '../../src/models/temporal-shift.js';
import { resnet101, resnet50 } from '../../src/models/resnet.js';
import { Conv2d, Identity } from '../../src/nn/index.js';
import { createSession } from '../../src/runtime/index.js';
import { type HostTensor, float32, numel } from '../../src/tensor/index.js';
import { assertClose } from '../helpers/assert-close.js';
import { fixtureCase, fixtureNpy } from '../helpers/fixtures.js';
import { makeRng, randn } from '../helpers/rng.js';

/** Runs `body` on `x` in onnxruntime, with a symbolic batch when `symbolic`. */
async function runOp(x: HostTensor, body: (g: GraphBuilder, v: Value) => Value, symbolic = false): Promise<{ out: HostTensor; ops: string[] }> {
  const g = new GraphBuilder();
  const v = g.input('x', 'float32', symbolic ? [sym('B', x.shape[0] / 2), ...x.shape.slice(1)] : x.shape);
  g.output(body(g, v), 'y');
  const graph = g.build();
  const s = await createSession(encodeOnnx(graph), { threads: 1 });
  const out = (await s.run({ x })).y;
  await s.release();
  return { out, ops: graph.nodes.map((n) => n.op) };
}

/** Direct implementation of the original's shift on a flat array, for random cases. */
function shiftRef(x: HostTensor, t: number, foldDiv: number): Float32Array {
  const [nt, c, h, w] = x.shape;
  const hw = h * w;
  const fold = Math.floor(c / foldDiv);
  const src = x.data as Float32Array;
  const out = new Float32Array(src.length);
  for (let f = 0; f < nt; f++) {
    const ti = f % t;
    for (let ch = 0; ch < c; ch++) {
      let from = f;
      if (ch < fold) from = ti < t - 1 ? f + 1 : -1;
      else if (ch < 2 * fold) from = ti > 0 ? f - 1 : -1;
      if (from < 0) continue;
      out.set(src.subarray((from * c + ch) * hw, (from * c + ch + 1) * hw), (f * c + ch) * hw);
    }
  }
  return out;
}

for (const name of ['shift_op', 'shift_op_fold1'] as const) {
  test(`TemporalShift.shift matches the ${name} fixture exactly`, async () => {
    const fx = fixtureCase(name);
    const args = fx.args as { n_segment: number; fold_divs: number[] };
    const files = fx.files as Record<string, string>;
    const x = await fixtureNpy(files.x);
    for (const div of args.fold_divs) {
      const expected = await fixtureNpy(files[`out_fold_div${div}`]);
      const { out, ops } = await runOp(x, (g, v) => TemporalShift.shift(g, v, args.n_segment, div));
      assert.deepEqual(out.shape, expected.shape);
      assertClose(out.data as Float32Array, expected.data as Float32Array, { atol: 0, rtol: 0, what: `${name} fold_div ${div}` });
      // zero FLOPs: data movement only
      assert.deepEqual([...new Set(ops)].filter((o) => !['Reshape', 'Slice', 'Pad', 'Concat', 'Identity'].includes(o)), []);
    }
  });
}

test('TemporalShift.shift: random shapes, fold 0, fold_div 1, one segment and a symbolic batch agree with a direct shift', async () => {
  const rng = makeRng(7);
  const cases = [
    { n: 2, t: 4, c: 16, div: 8, h: 3 },
    { n: 1, t: 5, c: 7, div: 8, h: 2 }, // fold 0: identity
    { n: 2, t: 3, c: 6, div: 1, h: 2 }, // fold = C: everything shifts left
    { n: 2, t: 3, c: 9, div: 2, h: 1 },
    { n: 3, t: 1, c: 8, div: 4, h: 2 }, // one frame: shifted channels are zero
  ];
  for (const k of cases) {
    const shape = [k.n * k.t, k.c, k.h, k.h + 1];
    const x = float32(shape, randn(rng, numel(shape)));
    const { out } = await runOp(x, (g, v) => TemporalShift.shift(g, v, k.t, k.div), k.n % 2 === 0);
    assertClose(out.data as Float32Array, shiftRef(x, k.t, k.div), { atol: 0, rtol: 0, what: JSON.stringify(k) });
  }
});

test("online shift: the first c // div channels come from the previous frame (zeros at t = 0), the rest stay; a frame never sees later ones", async () => {
  const rng = makeRng(11);
  for (const k of [{ n: 2, t: 4, c: 16, div: 8 }, { n: 1, t: 3, c: 5, div: 2 }, { n: 2, t: 1, c: 8, div: 4 }, { n: 1, t: 3, c: 7, div: 8 }]) {
    const shape = [k.n * k.t, k.c, 2, 3];
    const x = float32(shape, randn(rng, numel(shape)));
    const { out, ops } = await runOp(x, (g, v) => TemporalShift.shift(g, v, k.t, k.div, 'online'));
    const fold = Math.floor(k.c / k.div);
    const src = x.data as Float32Array;
    const expected = new Float32Array(src.length);
    for (let f = 0; f < k.n * k.t; f++) {
      for (let ch = 0; ch < k.c; ch++) {
        const from = ch < fold ? (f % k.t > 0 ? f - 1 : -1) : f;
        if (from >= 0) expected.set(src.subarray((from * k.c + ch) * 6, (from * k.c + ch + 1) * 6), (f * k.c + ch) * 6);
      }
    }
    assertClose(out.data as Float32Array, expected, { atol: 0, rtol: 0, what: JSON.stringify(k) });
    assert.deepEqual([...new Set(ops)].filter((o) => !['Reshape', 'Slice', 'Pad', 'Concat', 'Identity'].includes(o)), []);
  }
  const net = resnet50();
  makeTemporalShift(net, 8, 8, 'blockres', false, 'online');
  assert.ok(net.namedModules().filter(([, m]) => m instanceof TemporalShift).every(([, m]) => (m as TemporalShift).mode === 'online'));
  assert.throws(() => new TemporalShift(new Identity(), 8, 8, false, 'sideways' as 'online'), /Unsupported shift mode: sideways\. Must be one of \[bidirectional, online\]/);
});

test('shifting by fold_div then the reverse shift restores the input except the zero-filled edge frames', async () => {
  const rng = makeRng(3);
  const [n, t, c, h] = [2, 4, 8, 2];
  const x = float32([n * t, c, h, h], randn(rng, n * t * c * h * h));
  // the reverse of a shift is the shift with the two folds swapped: swap channel blocks, shift, swap back
  const { out } = await runOp(x, (g, v) => {
    const y = TemporalShift.shift(g, v, t, 4);
    const swap = (z: Value) => g.concat([g.slice(z, [2], [4], [1]), g.slice(z, [0], [2], [1]), g.slice(z, [4], [c], [1])], 1);
    return swap(TemporalShift.shift(g, swap(y), t, 4));
  });
  const got = out.data as Float32Array;
  const src = x.data as Float32Array;
  for (let f = 0; f < n * t; f++) {
    const ti = f % t;
    for (let ch = 0; ch < c; ch++) {
      // left then right loses frame 0 of the first fold; right then left loses the last frame of the second
      const edge = (ch < 2 && ti === 0) || (ch >= 2 && ch < 4 && ti === t - 1);
      for (let i = 0; i < h * h; i++) {
        const at = (f * c + ch) * h * h + i;
        assert.equal(got[at], edge ? 0 : src[at], `frame ${f} channel ${ch}`);
      }
    }
  }
});

test('TemporalShift wraps its net: keys gain "net."', () => {
  const m = new TemporalShift(new Conv2d(4, 2, { kernelSize: 1, bias: false }), 8, 8);
  assert.deepEqual(m.namedTensors('conv1.').map(([k]) => k), ['conv1.net.weight']);
  assert.throws(() => new TemporalShift(new Identity(), 0), /n_segment/);
});

test('make_temporal_shift: blockres wraps conv1 of every block (every second one from 23 blocks in layer3), block wraps blocks', () => {
  const r50 = resnet50();
  makeTemporalShift(r50, 8, 8, 'blockres');
  const keys50 = [...r50.nameParameters().stateDict().keys()];
  assert.equal(keys50.filter((k) => k.endsWith('conv1.net.weight')).length, 16);
  assert.ok(keys50.includes('layer1.0.conv1.net.weight'));

  const r101 = resnet101();
  makeTemporalShift(r101, 8, 8, 'blockres');
  const keys101 = [...r101.nameParameters().stateDict().keys()];
  assert.ok(keys101.includes('layer3.0.conv1.net.weight'));
  assert.ok(keys101.includes('layer3.1.conv1.weight'));
  assert.ok(keys101.includes('layer1.1.conv1.weight'), 'n_round 2 applies to every stage');
  assert.equal(keys101.filter((k) => k.endsWith('conv1.net.weight')).length, 2 + 2 + 12 + 2);

  const blk = resnet50();
  makeTemporalShift(blk, 8, 4, 'block', true);
  const keysBlk = [...blk.nameParameters().stateDict().keys()];
  assert.ok(keysBlk.includes('layer1.0.net.conv1.weight'));
  assert.ok(keysBlk.includes('layer4.2.net.bn3.running_var'));
  const seg = (blk.layer2 as unknown as TemporalShift[])[0].nSegment;
  assert.equal(seg, 4, 'temporal pooling halves T from layer2 on');
});

test('TemporalPool max-pools time with kernel 3, stride 2, padding 1', async () => {
  const [n, t, c] = [2, 4, 3];
  const x = float32([n * t, c, 1, 1], Array.from({ length: n * t * c }, (_, i) => ((i * 7) % 11) - 5));
  const { out, ops } = await runOp(x, (g, v) => TemporalPool.temporalPool(g, v, t));
  assert.deepEqual(out.shape, [n * t / 2, c, 1, 1]);
  assert.ok(ops.includes('MaxPool'));
  const src = x.data as Float32Array;
  const at = (b: number, ti: number, ch: number) => src[(b * t + ti) * c + ch];
  const expected: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < t / 2; o++) {
      for (let ch = 0; ch < c; ch++) {
        const win = [2 * o - 1, 2 * o, 2 * o + 1].filter((i) => i >= 0 && i < t).map((i) => at(b, i, ch));
        expected.push(Math.max(...win));
      }
    }
  }
  assert.deepEqual(Array.from(out.data as Float32Array), expected);
});
