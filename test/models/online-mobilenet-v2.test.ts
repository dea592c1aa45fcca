import assert from 'node:assert/strict';
import { test } from 'node:test';
import { extractStateDict, readPth } from '../../src/checkpoint/index.js';
import { ShapeError, UsageError } from '../../src/errors.js';
import { GraphBuilder, encodeOnnx } from '../../src/graph/index.js';
import {
  InvertedResidualWithShift,
  NUM_SHIFT_BUFFERS,
  OnlineMobileNetV2,
  buildOnlineStepGraph,
  toOnlineStateDict,
} from '../../src/models/online-mobilenet-v2.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';
import { assertClose, assertWithin } from '../helpers/assert-close.js';
import { fixtureCase, fixtureNpy, fixturePath } from '../helpers/fixtures.js';

const fx = fixtureCase('online_mobilenetv2');
const keyInfo = fx.state_dict_keys as { first5: string[]; last5: string[]; count: number };

test('keys follow online_demo/mobilenet_v2_tsm.py (count, first and last keys from the fixture manifest)', () => {
  const keys = [...new OnlineMobileNetV2({ numClasses: 27 }).nameParameters().stateDict().keys()];
  assert.equal(keys.length, keyInfo.count);
  assert.deepEqual(keys.slice(0, 5), keyInfo.first5);
  assert.deepEqual(keys.slice(-5), keyInfo.last5);
  // shifted blocks keep plain keys: no `.net.` in the online model
  assert.ok(keys.includes('features.3.conv.0.weight'));
  assert.ok(!keys.some((k) => k.includes('.net.')));
});

test('the ten shifted blocks are features 3,5,6,8,9,10,12,13,15,16', () => {
  const m = new OnlineMobileNetV2();
  const shifted = m.features.modules.flatMap((f, i) => (f instanceof InvertedResidualWithShift ? [i] : []));
  assert.deepEqual(shifted, [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]);
});

test('buffer shapes at 224 are the original demo shapes, and at 112 the fixture initial_buffer_shapes', () => {
  const m = new OnlineMobileNetV2();
  assert.deepEqual(m.bufferShapes(224, 224), [
    [1, 3, 56, 56], [1, 4, 28, 28], [1, 4, 28, 28], [1, 8, 14, 14], [1, 8, 14, 14],
    [1, 8, 14, 14], [1, 12, 14, 14], [1, 12, 14, 14], [1, 20, 7, 7], [1, 20, 7, 7],
  ]);
  assert.deepEqual(m.bufferShapes(112, 112), fx.initial_buffer_shapes);
});

test('the step graph has named frame/buffer inputs, logits/buffer outputs and metadata', () => {
  const m = new OnlineMobileNetV2({ numClasses: 5 }).nameParameters();
  const graph = buildOnlineStepGraph(m, { inputSize: [96, 128] });
  assert.deepEqual(graph.inputs.map((v) => v.name), ['frame', ...Array.from({ length: 10 }, (_, i) => `buffer_${i}`)]);
  assert.deepEqual(graph.outputs.map((v) => v.name), ['logits', ...Array.from({ length: 10 }, (_, i) => `buffer_out_${i}`)]);
  assert.deepEqual(graph.outputs[0].shape, [1, 5]);
  const shapes = m.bufferShapes(96, 128);
  graph.outputs.slice(1).forEach((v, i) => assert.deepEqual(v.shape, shapes[i]));
  assert.deepEqual(JSON.parse(graph.metadata.get('buffer_shapes')!), shapes);
  assert.deepEqual(JSON.parse(graph.metadata.get('input_size')!), [96, 128]);
  assert.deepEqual(JSON.parse(graph.metadata.get('input_mean')!), [0.485, 0.456, 0.406]);
  assert.deepEqual(JSON.parse(graph.metadata.get('input_std')!), [0.229, 0.224, 0.225]);
  assert.equal(graph.metadata.get('num_classes'), '5');
});

test('one shifted block: cat(buffer, x[:, c//8:]) goes through conv, x[:, :c//8] comes out as the next buffer', async () => {
  // With all-zero weights conv(...) is 0 after BN(bias 0), so out == x; the buffer is the first c//8 channels.
  const block = new InvertedResidualWithShift(16, 16, 1, 6).nameParameters('b.');
  for (const [, p] of block.namedTensors()) if (p.tensor.dtype === 'float32') (p.tensor.data as Float32Array).fill(0);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [1, 16, 2, 2]);
  const buf = g.input('buf', 'float32', [1, 2, 2, 2]);
  const [out, next] = block.forwardShift(g, x, buf);
  g.output(out, 'out');
  g.output(next, 'next');
  const s = await createSession(encodeOnnx(g.build()));
  const xs = float32([1, 16, 2, 2], Array.from({ length: 64 }, (_, i) => i));
  const r = await s.run({ x: xs, buf: float32([1, 2, 2, 2]) });
  assert.deepEqual(Array.from(r.out.data as Float32Array), Array.from(xs.data as Float32Array));
  assert.deepEqual(Array.from(r.next.data as Float32Array), Array.from({ length: 8 }, (_, i) => i));
  assert.equal(InvertedResidualWithShift.bufferChannels(160), 20);
});

test('forward() is the first step from zero buffers', async () => {
  // On the fixture's first frame (its step starts from zero buffers), so both fp32 evaluations can be held to the
  // fixture: each within the manifest tolerance of PyTorch, hence within the sum of both of each other.
  const files = fx.files as { state_dict: string; steps: { input: string; logits: string }[] };
  const m = new OnlineMobileNetV2({ numClasses: 27 }).nameParameters();
  m.loadStateDict(extractStateDict(await readPth(fixturePath(files.state_dict))).stateDict, { source: files.state_dict });
  const [, , h, w] = fx.input_shape as number[];
  const g1 = new GraphBuilder();
  g1.output(m.forward(g1, g1.input('frame', 'float32', [1, 3, h, w])), 'logits');
  const s1 = await createSession(encodeOnnx(g1.build()));
  const s2 = await createSession(encodeOnnx(buildOnlineStepGraph(m, { inputSize: [h, w] })));
  const frame = (await fixtureNpy(files.steps[0].input)) as ReturnType<typeof float32>;
  const feeds: Record<string, ReturnType<typeof float32>> = { frame };
  m.bufferShapes(h, w).forEach((sh, i) => (feeds[`buffer_${i}`] = float32(sh)));
  const a = (await s1.run({ frame })).logits.data as Float32Array;
  const b = (await s2.run(feeds)).logits.data as Float32Array;
  const torch = (await fixtureNpy(files.steps[0].logits)).data as Float32Array;
  const tol = fx.tolerance as { atol: number; rtol: number };
  assertClose(a, torch, { ...tol, what: 'forward()' });
  assertClose(b, torch, { ...tol, what: 'step graph' });
  assertWithin(a, b, Array.from(torch, (v) => 2 * (tol.atol + tol.rtol * Math.abs(v))), 'forward() vs step graph');
});

test('TSN TSM-MobileNetV2 keys map to the online layout', async () => {
  const sd = new OnlineMobileNetV2({ numClasses: 27 }).nameParameters().stateDict();
  const shifted = new Set([3, 5, 6, 8, 9, 10, 12, 13, 15, 16]);
  const tsn = new Map(
    [...sd].map(([k, t]) => {
      if (k.startsWith('classifier.')) return [`module.new_fc.${k.slice('classifier.'.length)}`, t];
      const m = /^features\.(\d+)\.conv\.0\.(.*)$/.exec(k);
      const key = m && shifted.has(Number(m[1])) ? `features.${m[1]}.conv.0.net.${m[2]}` : k;
      return [`module.base_model.${key}`, t];
    }),
  );
  assert.ok(tsn.has('module.base_model.features.3.conv.0.net.weight'));
  const { stateDict, layout } = toOnlineStateDict(tsn);
  assert.equal(layout, 'tsn');
  assert.deepEqual([...stateDict.keys()], [...sd.keys()]);
  assert.equal(toOnlineStateDict(sd).layout, 'online');
  // A TSN model trained with dropout 0 keeps its classifier as base_model.classifier.
  const noDropout = new Map([...tsn].map(([k, t]) => [k.replace('module.new_fc.', 'module.base_model.classifier.'), t]));
  assert.deepEqual([...toOnlineStateDict(noDropout).stateDict.keys()], [...sd.keys()]);
});

test('bad inputs are rejected with messages that name the problem', () => {
  const m = new OnlineMobileNetV2().nameParameters();
  assert.throws(() => new InvertedResidualWithShift(16, 24, 2, 6), UsageError);
  assert.throws(() => new OnlineMobileNetV2({ numClasses: 0 }), /numClasses/);
  const g = new GraphBuilder();
  assert.throws(() => m.forwardStep(g, g.input('frame', 'float32', [1, 3, 64, 64]), []), (e: unknown) => e instanceof ShapeError && /takes 10 shift buffers, got 0/.test(e.message));
  assert.equal(NUM_SHIFT_BUFFERS, 10);
  assert.throws(() => buildOnlineStepGraph(m, { inputSize: 0 }), /inputSize/);
});

test('fixture frames give the fixture logits and buffers through a bare step graph', async () => {
  const files = fx.files as { state_dict: string; steps: { input: string; logits: string; out_buffers: string[] }[] };
  const { stateDict } = extractStateDict(await readPth(fixturePath(files.state_dict)));
  const m = new OnlineMobileNetV2({ numClasses: 27 }).nameParameters();
  m.loadStateDict(stateDict, { source: files.state_dict });
  const [, , h, w] = fx.input_shape as number[];
  const session = await createSession(encodeOnnx(buildOnlineStepGraph(m, { inputSize: [h, w] })), { threads: 1 });
  // the fixture manifest's tolerance, kept as the manifest gives it
  const tol = fx.tolerance as { atol: number; rtol: number };
  let buffers = m.bufferShapes(h, w).map((s) => float32(s));
  for (const [t, step] of files.steps.entries()) {
    const feeds: Record<string, ReturnType<typeof float32>> = { frame: (await fixtureNpy(step.input)) as ReturnType<typeof float32> };
    buffers.forEach((b, i) => (feeds[`buffer_${i}`] = b));
    const out = await session.run(feeds);
    assertClose(out.logits.data as Float32Array, (await fixtureNpy(step.logits)).data as Float32Array, { ...tol, what: `step ${t} logits` });
    buffers = [];
    for (const [i, file] of step.out_buffers.entries()) {
      const b = out[`buffer_out_${i}`];
      assertClose(b.data as Float32Array, (await fixtureNpy(file)).data as Float32Array, { ...tol, what: `step ${t} buffer ${i}` });
      buffers.push(b as ReturnType<typeof float32>);
    }
  }
});
