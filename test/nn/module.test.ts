import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckpointError } from '../../src/errors.js';
import { BatchNorm2d, Conv2d, Linear, Module, ReLU, Sequential } from '../../src/nn/index.js';
import { GraphBuilder, type Value } from '../../src/graph/index.js';
import { float32 } from '../../src/tensor/index.js';

class Tiny extends Module {
  readonly conv1 = new Conv2d(3, 4, { kernelSize: 3, padding: 1, bias: false });
  readonly bn1 = new BatchNorm2d(4);
  readonly downsample = new Sequential(new Conv2d(3, 4, { kernelSize: 1, bias: false }), new BatchNorm2d(4), new ReLU());
  readonly fc = new Linear(4, 2);
  forward(_g: GraphBuilder, x: Value): Value {
    return x;
  }
}

test('state dict keys follow PyTorch naming and order', () => {
  const m = new Tiny().nameParameters();
  assert.deepEqual(
    [...m.stateDict().keys()],
    [
      'conv1.weight',
      'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked',
      'downsample.0.weight',
      'downsample.1.weight', 'downsample.1.bias', 'downsample.1.running_mean', 'downsample.1.running_var', 'downsample.1.num_batches_tracked',
      'fc.weight', 'fc.bias',
    ],
  );
  assert.equal(m.conv1.weight.key, 'conv1.weight');
});

test('loadStateDict reports missing, unexpected and mismatched keys in one message', () => {
  const m = new Tiny().nameParameters();
  const sd = m.stateDict();
  sd.delete('fc.bias');
  sd.set('module.extra', float32([1]));
  sd.set('conv1.weight', float32([4, 3, 1, 1]));
  assert.throws(() => m.loadStateDict(sd, { source: 'x.pth' }), (e: unknown) => {
    assert.ok(e instanceof CheckpointError);
    assert.match(e.message, /in x\.pth/);
    assert.match(e.message, /conv1\.weight: checkpoint \[4,3,1,1\], model \[4,3,3,3\]/);
    assert.match(e.message, /missing key\(s\): fc\.bias/);
    assert.match(e.message, /unexpected key\(s\): module\.extra/);
    return true;
  });
});

test('loadStateDict copies values', () => {
  const m = new Tiny().nameParameters();
  const sd = m.stateDict();
  sd.set('fc.bias', float32([2], [3, 4]));
  m.loadStateDict(sd);
  assert.deepEqual(Array.from(m.fc.bias!.tensor.data as Float32Array), [3, 4]);
});

test('call names a child\'s nodes after its field, nested as the module tree (Sequential children by index)', () => {
  class Net extends Module {
    readonly conv1 = new Conv2d(3, 4, { kernelSize: 1, bias: false });
    readonly head = new Sequential(new ReLU(), new Linear(4, 2));
    forward(g: GraphBuilder, x: Value): Value {
      return this.head.call(g, g.flatten(g.globalAveragePool(this.conv1.call(g, x)), 1));
    }
  }
  const m = new Net().nameParameters();
  const g = new GraphBuilder();
  g.output(m.forward(g, g.input('x', 'float32', [1, 3, 4, 4])), 'y');
  assert.deepEqual(
    g.build().nodes.map((n) => n.name),
    ['conv1/Conv', 'GlobalAveragePool', 'Flatten', 'head.0/Relu', 'head.1/Gemm', 'Identity'],
  );
});
