import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GraphBuilder, decodeOnnx, encodeOnnx, sym } from '../../src/graph/index.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';
import { runPython } from '../helpers/python.js';
import { makeRng, randn } from '../helpers/rng.js';

/** A graph touching every op family the models use, with a symbolic batch. */
function everyOpGraph(opset?: number) {
  const rng = makeRng(7);
  const g = new GraphBuilder({ opset });
  const x = g.input('clip', 'float32', [sym('B'), 6, 8, 8]);
  let y = g.reshape(x, [-1, 3, 8, 8]); // [B*2, 3, 8, 8]
  y = g.conv(y, g.param('conv.weight', float32([4, 3, 3, 3], randn(rng, 108))), g.param('conv.bias', float32([4], randn(rng, 4))), { padding: 1 });
  y = g.batchNorm(y, g.param('bn.weight', float32([4], [1, 1, 1, 1])), g.param('bn.bias', float32([4])), g.param('bn.running_mean', float32([4])), g.param('bn.running_var', float32([4], [1, 1, 1, 1])));
  y = g.clip(g.relu(y), 0, 6);
  y = g.maxPool(y, { kernelSize: 3, stride: 2, padding: 1 });
  y = g.averagePool(y, { kernelSize: 2, stride: 2 });
  const shifted = g.concat([g.pad(g.slice(y, [1], [4], [1]), [0, 0, 0, 0, 0, 1, 0, 0]), g.identity(y)], 1);
  y = g.transpose(g.globalAveragePool(shifted), [0, 1, 2, 3]);
  y = g.flatten(y, 1); // [B*2, 8]
  y = g.linear(y, g.param('fc.weight', float32([5, 8], randn(rng, 40))), g.param('fc.bias', float32([5])));
  y = g.reduceMean(g.reshape(y, [-1, 2, 5]), [1], false);
  y = g.softmax(g.add(g.mul(y, g.scalar(2)), g.div(g.sub(y, g.scalar(1)), g.scalar(4))), -1);
  g.setMetadata('labels', JSON.stringify(['a', 'b', 'c', 'd', 'e']));
  g.output(y, 'probs');
  return g.build();
}

test('written models carry names, dim_params, initializers and metadata, and run', async () => {
  const bytes = encodeOnnx(everyOpGraph());
  const m = decodeOnnx(bytes);
  assert.equal(Number(m.opsetImport[0].version), 17);
  assert.deepEqual(m.graph?.input?.map((i) => i.name), ['clip']);
  assert.deepEqual(m.graph?.output?.map((i) => i.name), ['probs']);
  assert.ok(m.graph?.initializer?.some((t) => t.name === 'conv.weight'));
  assert.equal(m.metadataProps.find((p) => p.key === 'labels')?.value, '["a","b","c","d","e"]');
  const s = await createSession(bytes);
  const out = await s.run({ clip: float32([3, 6, 8, 8], randn(makeRng(1), 3 * 384)) });
  assert.deepEqual(out.probs.shape, [3, 5]);
  for (let b = 0; b < 3; b++) {
    const row = Array.from(out.probs.data as Float32Array).slice(b * 5, b * 5 + 5);
    assert.ok(Math.abs(row.reduce((a, c) => a + c) - 1) < 1e-5);
  }
});

// NOTE: Debian's onnx 1.12 knows opsets up to 17, so it can only judge our default opset.
test('onnx.checker (Debian python3-onnx) accepts what we write (full check with shape inference)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-onnx-'));
  const paths = [17].map((opset) => {
    const p = join(dir, `every-op-${opset}.onnx`);
    writeFileSync(p, encodeOnnx(everyOpGraph(opset)));
    return p;
  });
  const out = runPython(
    [
      'import sys, onnx',
      'for p in sys.argv[1:]:',
      '    m = onnx.load(p)',
      '    onnx.checker.check_model(m, full_check=True)',
      '    print("ok", m.opset_import[0].version)',
    ].join('\n'),
    paths,
  );
  assert.match(out, /ok 17/);
});
