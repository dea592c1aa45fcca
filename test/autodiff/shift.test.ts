/**
 * The temporal shift's gradient is the reverse shift: checked exactly against the `shift_op` fixtures
 * (gradient of (shift(x) * g).sum() from the original TemporalShift.shift).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildBackward } from '../../src/autodiff/index.js';
import { GraphBuilder, type Value, encodeOnnx } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { fixtureCase, fixtureNpy } from '../helpers/fixtures.js';

/**
 * `TemporalShift.shift` from Slice/Pad/Concat, as ops/temporal_shift.py: fold = c // fold_div; channels
 * [0, fold) take frame t+1, [fold, 2*fold) take frame t-1, the rest stay; vacated frames are zero.
 */
function shift(g: GraphBuilder, x: Value, t: number, foldDiv: number): Value {
  const [, c, h, w] = x.shape as number[];
  const fold = Math.floor(c / foldDiv);
  const x5 = g.reshape(x, [-1, t, c, h, w]);
  const left = g.pad(g.slice(x5, [1, 0], [t, fold], [1, 2]), [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
  const right = g.pad(g.slice(x5, [0, fold], [t - 1, 2 * fold], [1, 2]), [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  const rest = g.slice(x5, [2 * fold], [c], [2]);
  return g.reshape(g.concat([left, right, rest], 2), [-1, c, h, w]);
}

for (const caseName of ['shift_op', 'shift_op_fold1']) {
  test(`shift gradient equals the fixture exactly (${caseName})`, async (t) => {
    const fx = fixtureCase(caseName);
    const args = fx.args as { n_segment: number; fold_divs: number[] };
    const files = fx.files as Record<string, string>;
    const x = await fixtureNpy(files.x);
    const gy = await fixtureNpy(files.g);
    for (const foldDiv of args.fold_divs) {
      const g = new GraphBuilder();
      const xv = g.input('x', 'float32', x.shape);
      const gv = g.input('g', 'float32', gy.shape);
      const y = shift(g, xv, args.n_segment, foldDiv);
      const loss = g.reduceSum(g.mul(y, gv), [0, 1, 2, 3], false);
      const [dx] = buildBackward(g, loss, [xv]);
      g.output(y, 'y');
      g.output(dx!, 'dx');
      const s = await createSession(encodeOnnx(g.build()), { threads: 1 });
      const out = await s.run({ x, g: gy });
      const wantY = await fixtureNpy(files[`out_fold_div${foldDiv}`]);
      const want = await fixtureNpy(files[`grad_fold_div${foldDiv}`]);
      assert.deepEqual(Array.from(out.y.data as Float32Array), Array.from(wantY.data as Float32Array), `forward, fold_div ${foldDiv}`);
      assert.deepEqual(out.dx.shape, want.shape);
      assert.deepEqual(Array.from(out.dx.data as Float32Array), Array.from(want.data as Float32Array), `gradient, fold_div ${foldDiv}`);
      t.diagnostic(`fold_div ${foldDiv}: gradient exact (max |err| 0) over ${want.data.length} elements`);
      await s.release();
    }
  });
}
