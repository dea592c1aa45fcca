import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GraphBuilder, countMacs, sym } from '../../src/graph/index.js';
import { buildTsnGraph, tsn } from '../../src/models/index.js';
import { float32 } from '../../src/tensor/index.js';

test('conv, grouped conv, gemm and matmul count hand-computed MACs; other ops count zero', () => {
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', [sym('B'), 4, 8, 8]);
  // 3x3 conv 4 -> 6, stride 2, pad 1: out [B,6,4,4]; each output is 4*3*3 MACs
  const c1 = g.relu(g.conv(x, g.param('c1.weight', float32([6, 4, 3, 3])), undefined, { stride: 2, padding: 1 }));
  // depthwise 3x3 on 6 channels, pad 1: out [B,6,4,4]; each output is 1*3*3 MACs
  const c2 = g.conv(c1, g.param('c2.weight', float32([6, 1, 3, 3])), undefined, { padding: 1, groups: 6 });
  const pooled = g.flatten(g.globalAveragePool(c2), 1);
  const fc = g.linear(pooled, g.param('fc.weight', float32([5, 6])), g.param('fc.bias', float32([5])));
  const mm = g.matMul(fc, g.param('m', float32([5, 3])));
  g.output(mm, 'y');
  const graph = g.build();
  const conv = 6 * 4 * 4 * (4 * 9) + 6 * 4 * 4 * 9;
  const r = countMacs(graph);
  assert.deepEqual(r.byOp, { Conv: conv, Gemm: 5 * 6, MatMul: 3 * 5 });
  assert.deepEqual(r.nodes, { Conv: 2, Gemm: 1, MatMul: 1 });
  assert.equal(r.macs, conv + 30 + 15);
  assert.equal(countMacs(graph, { symbols: { B: 4 } }).macs, 4 * r.macs, 'symbolic batch scales the count');
  assert.deepEqual(r.uncounted, []);
});

test('MobileNetV2 at 224 is ~300 M MACs per frame, and the temporal shift adds zero', () => {
  const opts = { numClass: 1000, numSegments: 8, baseModel: 'mobilenetv2', dropout: 0 } as const;
  const tsnMacs = countMacs(buildTsnGraph(tsn(opts), { height: 224, width: 224, batch: 1 })).macs;
  const tsmMacs = countMacs(buildTsnGraph(tsn({ ...opts, isShift: true }), { height: 224, width: 224, batch: 1 })).macs;
  assert.equal(tsmMacs, tsnMacs, 'shift: zero MACs');
  // the MobileNetV2 paper's 300 M multiply-adds (torchvision: 0.30 GFLOPS) per 224x224 frame
  const perFrame = tsnMacs / 8;
  assert.ok(perFrame > 295e6 && perFrame < 305e6, `MobileNetV2 MACs per frame ${perFrame}`);
});

test('TSM-ResNet-50 8x224 is 8 x 4.1 G MACs, the same as TSN (TSM paper: 33 G)', () => {
  const opts = { numClass: 400, numSegments: 8, baseModel: 'resnet50', dropout: 0.5 } as const;
  const tsm = countMacs(buildTsnGraph(tsn({ ...opts, isShift: true }), { height: 224, width: 224, batch: 1 }));
  const tsnCount = countMacs(buildTsnGraph(tsn(opts), { height: 224, width: 224, batch: 1 }));
  assert.equal(tsm.macs, tsnCount.macs);
  assert.ok(tsm.macs > 32.6e9 && tsm.macs < 33.0e9, `TSM-R50 MACs ${tsm.macs}`);
  assert.equal(tsm.nodes.Conv, 53, 'ResNet-50 has 53 convolutions');
});
