import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/errors.js';
import { dimToString, encodeOnnx } from '../../src/graph/index.js';
import { TSN, buildTsnGraph, resolveTsnOptions, tsn } from '../../src/models/tsn.js';
import { mobilenetV2 } from '../../src/models/mobilenet-v2.js';
import { RESNET_ARCHS, resnet } from '../../src/models/resnet.js';
import { createSession } from '../../src/runtime/index.js';
import { float32 } from '../../src/tensor/index.js';
import { makeRng, randn } from '../helpers/rng.js';

const keysOf = (m: TSN) => [...m.stateDict().keys()];

test('backbones have torchvision / archs/mobilenet_v2.py parameter counts and key names', () => {
  // state-dict entries of torchvision's resnetNN() and the original mobilenet_v2()
  const expected = { resnet18: 122, resnet34: 218, resnet50: 320, resnet101: 626, resnet152: 932 };
  for (const arch of Object.keys(RESNET_ARCHS) as (keyof typeof RESNET_ARCHS)[]) {
    const keys = [...resnet(arch).nameParameters().stateDict().keys()];
    assert.equal(keys.length, expected[arch], arch);
    assert.deepEqual(keys.slice(0, 2), ['conv1.weight', 'bn1.weight']);
    assert.deepEqual(keys.slice(-2), ['fc.weight', 'fc.bias']);
    assert.ok(keys.includes('layer2.0.downsample.0.weight') && keys.includes('layer2.0.downsample.1.running_var'));
  }
  const mb = mobilenetV2().nameParameters();
  const sd = mb.stateDict();
  assert.equal(sd.size, 314);
  assert.deepEqual(sd.get('features.1.conv.0.weight')?.shape, [32, 1, 3, 3], 'expand ratio 1: conv starts with the depthwise conv');
  assert.deepEqual(sd.get('features.2.conv.0.weight')?.shape, [96, 16, 1, 1]);
  assert.deepEqual(sd.get('features.2.conv.7.weight')?.shape, [24]);
  assert.deepEqual(sd.get('features.18.0.weight')?.shape, [1280, 320, 1, 1]);
  assert.deepEqual(sd.get('classifier.weight')?.shape, [1000, 1280]);
});

test('TSN key layout: base_model.* then new_fc.*; dropout 0 replaces the last layer; Flow widens the first conv', () => {
  const r50 = tsn({ numClass: 10, numSegments: 8, baseModel: 'resnet50', isShift: true });
  const k = keysOf(r50);
  assert.equal(k.length, 320);
  assert.equal(k[0], 'base_model.conv1.weight');
  assert.ok(k.includes('base_model.layer1.0.conv1.net.weight'));
  assert.deepEqual(k.slice(-2), ['new_fc.weight', 'new_fc.bias']);

  const mb = tsn({ numClass: 27, numSegments: 8, baseModel: 'mobilenetv2', isShift: true, dropout: 0 });
  const km = keysOf(mb);
  assert.deepEqual(km.slice(-2), ['base_model.classifier.weight', 'base_model.classifier.bias']);
  assert.ok(!km.some((x) => x.startsWith('new_fc')));
  // shifted: inverted residuals with 8 layers and a residual connection (features 3, 5, 6, 8-10, 12, 13, 15, 16)
  assert.deepEqual(km.filter((x) => x.endsWith('.net.weight')).map((x) => Number(x.split('.')[2])), [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]);

  const flow = tsn({ numClass: 5, numSegments: 4, baseModel: 'resnet18', modality: 'Flow' });
  assert.deepEqual(flow.stateDict().get('base_model.conv1.weight')?.shape, [64, 10, 7, 7]);
  assert.equal(flow.inputChannels, 40);
  assert.deepEqual([flow.inputMean, flow.inputStd.map((s) => s.toFixed(6))], [[0.5], [((0.229 + 0.224 + 0.225) / 3).toFixed(6)]]);
  const mbFlow = tsn({ numClass: 5, numSegments: 4, baseModel: 'mobilenetv2', modality: 'Flow', newLength: 3 });
  assert.deepEqual(mbFlow.stateDict().get('base_model.features.0.0.weight')?.shape, [32, 6, 3, 3]);

  const bn = tsn({ numClass: 7, numSegments: 2, baseModel: 'BNInception', isShift: true, shiftPlace: 'block', modality: 'Flow' });
  const kb = keysOf(bn);
  assert.equal(kb[0], 'base_model.conv1_7x7_s2.weight');
  assert.deepEqual(bn.stateDict().get('base_model.conv1_7x7_s2.weight')?.shape, [64, 10, 7, 7]);
  assert.deepEqual(kb.slice(-2), ['new_fc.weight', 'new_fc.bias']);
  assert.deepEqual([bn.inputMean, bn.inputStd, bn.inputRange], [[128], [1], 255]);
});

test('resolveTsnOptions applies the original defaults and rejects what the original rejects', () => {
  const c = resolveTsnOptions({ numClass: 3, numSegments: 8 });
  assert.deepEqual(
    [c.baseModel, c.modality, c.newLength, c.consensusType, c.beforeSoftmax, c.dropout, c.isShift, c.shiftDiv, c.shiftPlace, c.partialBn, c.imgFeatureDim],
    ['resnet101', 'RGB', 1, 'avg', true, 0.8, false, 8, 'blockres', true, 256],
  );
  assert.equal(resolveTsnOptions({ numClass: 3, numSegments: 8, modality: 'Flow' }).newLength, 5);
  const bad: [Parameters<typeof resolveTsnOptions>[0], RegExp][] = [
    [{ numClass: 3, numSegments: 8, beforeSoftmax: false, consensusType: 'identity' }, /Only avg consensus can be used after Softmax/],
    [{ numClass: 3, numSegments: 8, baseModel: 'mobilenetv2', isShift: true, temporalPool: true }, /temporal_pool is implemented for ResNet/],
    [{ numClass: 3, numSegments: 7, baseModel: 'resnet50', isShift: true, temporalPool: true }, /an even number/],
    [{ numClass: 3, numSegments: 8, baseModel: 'resnet18', nonLocal: true }, /non_local needs a Bottleneck ResNet/],
    [{ numClass: 3, numSegments: 8, baseModel: 'vgg16' }, /Unsupported arch: vgg16/],
    [{ numClass: 0, numSegments: 8 }, /num_class/],
    [{ numClass: 3, numSegments: 8, dropout: 1 }, /dropout/],
    [{ numClass: 3, numSegments: 8, shiftPlace: 'middle' as 'block' }, /Unsupported shift place: middle/],
  ];
  for (const [o, re] of bad) assert.throws(() => resolveTsnOptions(o), (e: unknown) => e instanceof UsageError && re.test(e.message), JSON.stringify(o));
});

test('buildTsnGraph: symbolic batch, [B, K] for avg, [B, T, K] for identity consensus, softmax before consensus', async () => {
  const rng = makeRng(5);
  const model = tsn({ numClass: 4, numSegments: 3, baseModel: 'resnet18', isShift: true, consensusType: 'identity', dropout: 0 });
  // random weights so the graph computes something non-trivial
  for (const [, p] of model.namedTensors()) if (p.tensor.dtype === 'float32') p.tensor = float32(p.shape, randn(rng, p.tensor.data.length).map((v) => (p.key.includes('running_var') ? 1 + Math.abs(v) : 0.1 * v)));
  const graph = buildTsnGraph(model, { height: 32, width: 32 });
  assert.deepEqual(graph.inputs[0].shape.map(dimToString), ['B', '9', '32', '32']);
  assert.deepEqual(graph.outputs[0].shape.map(dimToString), ['B', '3', '4']);
  assert.equal(graph.metadata.get('num_segments'), '3');
  const s = await createSession(encodeOnnx(graph), { threads: 1 });
  const y = (await s.run({ input: float32([2, 9, 32, 32], randn(rng, 2 * 9 * 32 * 32)) })).logits;
  await s.release();
  assert.deepEqual(y.shape, [2, 3, 4]);

  const avg = tsn({ numClass: 4, numSegments: 3, baseModel: 'resnet18', beforeSoftmax: false });
  const g2 = buildTsnGraph(avg, { height: 32, width: 32, batch: 2 });
  assert.deepEqual(g2.outputs[0].shape, [2, 4]);
  const ops = g2.nodes.map((n) => n.op);
  assert.ok(ops.indexOf('Softmax') < ops.lastIndexOf('ReduceMean'), 'softmax runs before the average');

  const one = tsn({ numClass: 4, numSegments: 1, baseModel: 'resnet18', consensusType: 'identity' });
  assert.deepEqual(buildTsnGraph(one, { height: 32, width: 32, batch: 1 }).outputs[0].shape, [1, 4], 'squeeze(1) drops T = 1');
});

test('graph nodes are named by module path; the shift and temporal pooling wrappers add no level', () => {
  const names = (o: Parameters<typeof tsn>[0], size: number) => new Set(buildTsnGraph(tsn(o), { height: size, width: size }).nodes.map((n) => n.name));
  const r18 = names({ numClass: 3, numSegments: 2, baseModel: 'resnet18', isShift: true, temporalPool: true }, 32);
  for (const n of ['base_model.conv1/Conv', 'base_model.bn1/BatchNormalization', 'base_model.maxpool/MaxPool', 'base_model.layer1.0.conv1.shift/Slice',
    'base_model.layer1.0.conv1/Conv', 'base_model.layer2.tpool/MaxPool', 'base_model.layer2.0.conv1/Conv', 'base_model.layer2.0.downsample.0/Conv',
    'base_model.layer2.0.downsample.1/BatchNormalization', 'base_model.avgpool/GlobalAveragePool', 'new_fc/Gemm', 'consensus/ReduceMean']) {
    assert.ok(r18.has(n), `${n} in ${[...r18].slice(0, 12).join(', ')}, ...`);
  }
  assert.ok(![...r18].some((n) => n.includes('.net')), 'no node is named after a wrapper field');
  const mb = names({ numClass: 3, numSegments: 2, baseModel: 'mobilenetv2', isShift: true, dropout: 0 }, 32);
  for (const n of ['base_model.features.0.0/Conv', 'base_model.features.3.conv.0.shift/Slice', 'base_model.features.3.conv.0/Conv', 'base_model.features.3/Add', 'base_model.classifier/Gemm']) {
    assert.ok(mb.has(n), n);
  }
});
