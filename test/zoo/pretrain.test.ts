import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { extractStateDict, readNpy, readPth } from '../../src/checkpoint/index.js';
import { CheckpointError } from '../../src/errors.js';
import type { HostTensor } from '../../src/tensor/index.js';
import { mapImagenetStateDict, unwrapKey } from '../../src/zoo/index.js';
import { runPython } from '../helpers/python.js';

/**
 * torchvision's ResNet-18 state dict, and the key → shape lists of the TSN the original builds around it
 * (ops/models.py: resnet18 with ImageNet weights, blockres shift wrapping each block's conv1 as `.net`, fc
 * replaced by Dropout and a `new_fc`), for RGB and for Flow with `_construct_flow_model`'s first conv.
 */
const GEN = String.raw`
import copy, json, sys
import numpy as np, torch, torch.nn as nn, torchvision
out = sys.argv[1]
torch.manual_seed(0)
imagenet = torchvision.models.resnet18()
torch.save(imagenet.state_dict(), out + '/resnet18.pth')

class TemporalShift(nn.Module):  # ops/temporal_shift.py keeps the wrapped conv as self.net
    def __init__(self, net):
        super().__init__()
        self.net = net

class TSN(nn.Module):
    def __init__(self, base, num_class):
        super().__init__()
        self.base_model = base
        self.new_fc = nn.Linear(512, num_class)

def shifted(base):
    base = copy.deepcopy(base)
    for layer in [base.layer1, base.layer2, base.layer3, base.layer4]:
        for b in layer:
            b.conv1 = TemporalShift(b.conv1)  # make_temporal_shift, place='blockres'
    base.fc = nn.Dropout(0.5)
    return base

def construct_flow_model(base, new_length):  # ops/models.py TSN._construct_flow_model
    modules = list(base.modules())
    first_conv_idx = list(filter(lambda x: isinstance(modules[x], nn.Conv2d), list(range(len(modules)))))[0]
    conv_layer = modules[first_conv_idx]
    container = modules[first_conv_idx - 1]
    params = [x.clone() for x in conv_layer.parameters()]
    kernel_size = params[0].size()
    new_kernel_size = kernel_size[:1] + (2 * new_length, ) + kernel_size[2:]
    new_kernels = params[0].data.mean(dim=1, keepdim=True).expand(new_kernel_size).contiguous()
    new_conv = nn.Conv2d(2 * new_length, conv_layer.out_channels, conv_layer.kernel_size, conv_layer.stride,
                         conv_layer.padding, bias=True if len(params) == 2 else False)
    new_conv.weight.data = new_kernels
    layer_name = list(container.state_dict().keys())[0][:-7]
    setattr(container, layer_name, new_conv)
    return base

rgb = TSN(shifted(imagenet), 174)
flow = TSN(construct_flow_model(shifted(imagenet), 5), 174)
np.save(out + '/flow_conv1.npy', flow.state_dict()['base_model.conv1.weight'].numpy())
keys = lambda m: [[k, list(v.shape)] for k, v in m.state_dict().items()]
json.dump({'rgb': keys(rgb), 'flow': keys(flow)}, open(out + '/keys.json', 'w'))
`;

let dir: string;
let imagenet: Map<string, HostTensor>;
let rgbKeys: Map<string, number[]>;
let flowKeys: Map<string, number[]>;
let flowConv1: HostTensor;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsm-pretrain-'));
  runPython(GEN, [dir]);
  imagenet = extractStateDict(await readPth(join(dir, 'resnet18.pth'))).stateDict;
  const keys = JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8')) as Record<'rgb' | 'flow', [string, number[]][]>;
  rgbKeys = new Map(keys.rgb);
  flowKeys = new Map(keys.flow);
  flowConv1 = await readNpy(join(dir, 'flow_conv1.npy'));
});
after(() => rm(dir, { recursive: true, force: true }));

test('RGB: every torchvision ResNet-18 tensor lands on its TSN key (base_model., .net for shifted convs)', () => {
  const m = mapImagenetStateDict(imagenet, rgbKeys);
  assert.deepEqual(m.unused, ['fc.weight', 'fc.bias']);
  assert.deepEqual(m.missing, ['new_fc.weight', 'new_fc.bias']);
  assert.deepEqual(m.adapted, []);
  assert.equal(m.stateDict.size, imagenet.size - 2);
  assert.equal(m.stateDict.get('base_model.layer1.0.conv1.net.weight'), imagenet.get('layer1.0.conv1.weight'));
  assert.equal(m.stateDict.get('base_model.layer3.1.bn2.running_var'), imagenet.get('layer3.1.bn2.running_var'));
  assert.equal(m.stateDict.get('base_model.layer2.0.downsample.0.weight'), imagenet.get('layer2.0.downsample.0.weight'));
  for (const [key, t] of m.stateDict) {
    assert.deepEqual(t.shape, rgbKeys.get(key), key);
    assert.equal(t, imagenet.get(unwrapKey(key.slice('base_model.'.length))), key);
  }
  // a plain key list works the same (no shape checks)
  assert.deepEqual([...mapImagenetStateDict(imagenet, [...rgbKeys.keys()]).stateDict.keys()], [...m.stateDict.keys()]);
});

test('Flow: the first conv is averaged over RGB and repeated over 2·new_length channels, as the original', () => {
  const m = mapImagenetStateDict(imagenet, flowKeys, { modality: 'Flow', newLength: 5 });
  assert.deepEqual(m.adapted, ['base_model.conv1.weight']);
  const got = m.stateDict.get('base_model.conv1.weight') as HostTensor;
  assert.deepEqual(got.shape, [64, 10, 7, 7]);
  assert.deepEqual(flowConv1.shape, [64, 10, 7, 7]);
  const a = got.data as Float32Array;
  const b = flowConv1.data as Float32Array;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-30));
  assert.ok(worst <= 1.2e-7, `max relative difference to torch ${worst}`);
  // only the first conv changes
  assert.equal(m.stateDict.get('base_model.layer1.0.conv1.net.weight'), imagenet.get('layer1.0.conv1.weight'));
  // new_length defaults to 5 for Flow
  assert.deepEqual(mapImagenetStateDict(imagenet, flowKeys, { modality: 'Flow' }).stateDict.get('base_model.conv1.weight')?.shape, [64, 10, 7, 7]);
});

test('RGBDiff repeats over 3·new_length channels; each output channel is the mean of the RGB kernels', () => {
  const w: HostTensor = { dtype: 'float64', shape: [2, 3, 1, 2], data: new Float64Array([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]) };
  const sd = new Map<string, HostTensor>([['conv1.weight', w], ['fc.weight', { dtype: 'float64', shape: [1, 2], data: new Float64Array(2) }]]);
  const m = mapImagenetStateDict(sd, ['base_model.conv1.weight', 'new_fc.weight'], { modality: 'RGBDiff', newLength: 2 });
  const t = m.stateDict.get('base_model.conv1.weight') as HostTensor;
  assert.deepEqual(t.shape, [2, 6, 1, 2]);
  assert.deepEqual([...(t.data as Float64Array)], [...Array(6).fill([3, 4]).flat(), ...Array(6).fill([30, 40]).flat()]);
  assert.deepEqual(m.unused, ['fc.weight']);
});

test('other wrappers: "block" shift place, temporal pool, non-local and dropout 0 (base_model.fc kept new)', () => {
  const t = (shape: number[]): HostTensor => ({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) });
  const sd = new Map<string, HostTensor>([
    ['conv1.weight', t([4, 3, 3, 3])],
    ['layer1.0.conv1.weight', t([4, 4, 1, 1])],
    ['layer2.0.conv1.weight', t([4, 4, 1, 1])],
    ['layer2.0.bn3.weight', t([4])],
    ['fc.weight', t([1000, 4])],
    ['fc.bias', t([1000])],
  ]);
  const model = new Map<string, number[]>([
    ['base_model.conv1.weight', [4, 3, 3, 3]],
    ['base_model.layer1.0.net.conv1.weight', [4, 4, 1, 1]], // place='block': the whole block is wrapped
    ['base_model.layer2.net.0.block.conv1.net.weight', [4, 4, 1, 1]], // tpool around layer2, NL around block 0
    ['base_model.layer2.net.0.block.bn3.weight', [4]],
    ['base_model.layer2.net.0.nl.W.0.weight', [4, 2, 1, 1, 1]],
    ['base_model.fc.weight', [10, 4]], // dropout 0: TSN replaces fc with a new Linear under the same name
    ['base_model.fc.bias', [10]],
  ]);
  const m = mapImagenetStateDict(sd, model);
  assert.deepEqual([...m.stateDict.keys()], [
    'base_model.conv1.weight',
    'base_model.layer1.0.net.conv1.weight',
    'base_model.layer2.net.0.block.conv1.net.weight',
    'base_model.layer2.net.0.block.bn3.weight',
  ]);
  assert.deepEqual(m.unused, ['fc.weight', 'fc.bias']);
  assert.deepEqual(m.missing, ['base_model.layer2.net.0.nl.W.0.weight', 'base_model.fc.weight', 'base_model.fc.bias']);
  assert.equal(unwrapKey('layer2.net.0.block.conv1.net.weight'), 'layer2.0.conv1.weight');
});

test('a shape mismatch names both keys and shapes; a foreign backbone is TSM_CHECKPOINT_ARCH', () => {
  const shapes = new Map(rgbKeys);
  shapes.set('base_model.layer1.0.conv1.net.weight', [64, 64, 1, 1]);
  assert.throws(
    () => mapImagenetStateDict(imagenet, shapes),
    (e: unknown) =>
      e instanceof CheckpointError &&
      e.code === 'TSM_CHECKPOINT_SHAPE' &&
      e.message.includes('"layer1.0.conv1.weight" has shape [64,64,3,3]') &&
      e.message.includes('"base_model.layer1.0.conv1.net.weight" has [64,64,1,1]'),
  );
  assert.throws(
    () => mapImagenetStateDict(imagenet, ['base_model.features.0.0.weight', 'new_fc.weight']),
    (e: unknown) => e instanceof CheckpointError && e.code === 'TSM_CHECKPOINT_ARCH' && /none of the 122 ImageNet keys/.test(e.message),
  );
  assert.throws(() => mapImagenetStateDict(imagenet, rgbKeys, { newLength: 0 }), TypeError);
});

test('a custom prefix maps into a DataParallel-style tree', () => {
  const keys = [...rgbKeys.keys()].map((k) => `module.${k}`);
  const m = mapImagenetStateDict(imagenet, keys, { prefix: 'module.base_model.' });
  assert.equal(m.stateDict.get('module.base_model.layer4.1.conv1.net.weight'), imagenet.get('layer4.1.conv1.weight'));
  assert.deepEqual(m.missing, ['module.new_fc.weight', 'module.new_fc.bias']);
});
