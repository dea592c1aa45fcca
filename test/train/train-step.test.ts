/**
 * The one-graph training step against PyTorch on a tiny network (first conv with bias, BN, depthwise conv,
 * ReLU6, 1x1 conv with bias, GAP, Linear): two steps of SGD with momentum, weight decay, clipping, TSM's
 * parameter groups and partial BN, compared with torch.optim.SGD + clip_grad_norm_ run by Debian's Python.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { GraphBuilder, Value } from '../../src/graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Module, type Parameter } from '../../src/nn/index.js';
import { float32, hostTensor, numel } from '../../src/tensor/index.js';
import { SGD, TrainStep, adjustLearningRate, getOptimPolicies, setTrainMode, singleGroup } from '../../src/train/index.js';
import { assertClose } from '../helpers/assert-close.js';
import { runPython } from '../helpers/python.js';
import { makeRng, randn } from '../helpers/rng.js';

class Tiny extends Module {
  readonly conv1 = new Conv2d(3, 4, { kernelSize: 3, padding: 1 });
  readonly bn1 = new BatchNorm2d(4);
  readonly conv2 = new Conv2d(4, 4, { kernelSize: 3, stride: 2, padding: 1, groups: 4, bias: false });
  readonly bn2 = new BatchNorm2d(4);
  readonly conv3 = new Conv2d(4, 6, { kernelSize: 1 });
  readonly fc = new Linear(6, 3);
  forward(g: GraphBuilder, x: Value): Value {
    let y = g.relu(this.bn1.forward(g, this.conv1.forward(g, x)));
    y = g.clip(this.bn2.forward(g, this.conv2.forward(g, y)), 0, 6);
    y = g.flatten(g.globalAveragePool(this.conv3.forward(g, y)), 1);
    return this.fc.forward(g, y);
  }
}

const TORCH_TINY = `
import json, sys, torch, torch.nn as nn
torch.set_num_threads(1)
cfg = json.load(open(sys.argv[1]))
class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1); self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False); self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 6, 1); self.fc = nn.Linear(6, 3)
    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.clamp(self.bn2(self.conv2(y)), 0, 6)
        return self.fc(self.conv3(y).mean(3).mean(2))
m = Tiny()
sd = m.state_dict()
for k, v in cfg['params'].items():
    sd[k].copy_(torch.tensor(v['data']).reshape(v['shape']))
m.train()
if cfg['policies']:
    m.bn2.eval(); m.bn2.weight.requires_grad = False; m.bn2.bias.requires_grad = False
    groups = [
        {'params': [m.conv1.weight], 'lr_mult': 1, 'decay_mult': 1},
        {'params': [m.conv1.bias], 'lr_mult': 2, 'decay_mult': 0},
        {'params': [m.conv2.weight, m.conv3.weight], 'lr_mult': 1, 'decay_mult': 1},
        {'params': [m.conv3.bias], 'lr_mult': 2, 'decay_mult': 0},
        {'params': [m.bn1.weight, m.bn1.bias], 'lr_mult': 1, 'decay_mult': 0},
        {'params': [], 'lr_mult': 1, 'decay_mult': 1},
        {'params': [m.fc.weight], 'lr_mult': 5, 'decay_mult': 1},
        {'params': [m.fc.bias], 'lr_mult': 10, 'decay_mult': 0},
    ]
    opt = torch.optim.SGD(groups, cfg['lr'], momentum=0.9, weight_decay=cfg['wd'])
    for g in opt.param_groups:
        g['lr'] = cfg['lr'] * g['lr_mult']; g['weight_decay'] = cfg['wd'] * g['decay_mult']
else:
    opt = torch.optim.SGD(m.parameters(), cfg['lr'], momentum=0.9, weight_decay=cfg['wd'])
out = {'loss': [], 'norm': []}
for x, y in zip(cfg['inputs'], cfg['labels']):
    x = torch.tensor(x).reshape(cfg['shape'])
    loss = nn.CrossEntropyLoss()(m(x), torch.tensor(y))
    opt.zero_grad(); loss.backward()
    out['norm'].append(float(torch.nn.utils.clip_grad_norm_(m.parameters(), cfg['clip'])))
    opt.step(); out['loss'].append(float(loss))
out['state'] = {k: v.flatten().tolist() for k, v in m.state_dict().items()}
out['momentum'] = {n: opt.state[p]['momentum_buffer'].flatten().tolist() for n, p in m.named_parameters() if p in opt.state}
print(json.dumps(out))
`;

interface TorchResult {
  loss: number[];
  norm: number[];
  state: Record<string, number[]>;
  momentum: Record<string, number[]>;
}

function initTiny(seed: number): Tiny {
  const m = new Tiny().nameParameters();
  const rng = makeRng(seed);
  for (const [k, p] of m.namedTensors()) {
    if (k.endsWith('num_batches_tracked')) continue;
    const n = numel(p.shape);
    let v: Float32Array;
    if (k.endsWith('running_var')) v = Float32Array.from({ length: n }, () => 0.5 + rng.uniform());
    else if (k.startsWith('bn') && k.endsWith('weight')) v = Float32Array.from({ length: n }, () => 1 + 0.1 * rng.normal());
    else v = Float32Array.from(randn(rng, n), (x) => x * 0.5);
    p.tensor = float32(p.shape, v);
  }
  return m;
}

async function compareWithTorch(policies: boolean, t: { diagnostic: (s: string) => void }): Promise<void> {
  const m = initTiny(policies ? 1 : 2);
  const shape = [4, 3, 6, 6];
  const rng = makeRng(9);
  const inputs = [randn(rng, numel(shape)), randn(rng, numel(shape))];
  const labels = [
    [0, 2, 1, 2],
    [1, 1, 0, 2],
  ];
  const lr = 0.05;
  const wd = 1e-3;
  const clip = policies ? 0.5 : 50;
  const dir = mkdtempSync(join(tmpdir(), 'tsm-train-'));
  let ref: TorchResult;
  try {
    const params: Record<string, { data: number[]; shape: readonly number[] }> = {};
    for (const [k, p] of m.namedTensors()) if (!k.endsWith('num_batches_tracked')) params[k] = { data: Array.from(p.tensor.data as Float32Array), shape: p.shape };
    const cfgPath = join(dir, 'cfg.json');
    writeFileSync(cfgPath, JSON.stringify({ params, policies, lr, wd, clip, shape, inputs: inputs.map((x) => Array.from(x)), labels }));
    ref = JSON.parse(runPython(TORCH_TINY, [cfgPath])) as TorchResult;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  setTrainMode(m, policies);
  const groups = policies ? getOptimPolicies(m, { fcLr5: true, partialBn: true }) : singleGroup(m);
  const sgd = new SGD(groups, { lr, momentum: 0.9, weightDecay: wd });
  adjustLearningRate(sgd, 0, { lr, lrType: 'step', lrSteps: [10] });
  const step = await TrainStep.create(m, sgd, { inputShape: shape, clipGradNorm: clip, threads: 1 });
  for (let i = 0; i < 2; i++) {
    const r = await step.run(float32(shape, inputs[i]), hostTensor('int64', [4], BigInt64Array.from(labels[i].map(BigInt))));
    assertClose([r.loss], [ref.loss[i]], { atol: 1e-5, rtol: 1e-5, what: `loss ${i}` });
    assertClose([r.gradNorm], [ref.norm[i]], { rtol: 1e-5, atol: 1e-6, what: `grad norm ${i}` });
  }
  await step.release();
  let worst = 0;
  const byKey = new Map<string, Parameter>(m.namedTensors());
  for (const [k, want] of Object.entries(ref.state)) {
    const p = byKey.get(k)!;
    const got = Array.from(p.tensor.data as ArrayLike<number | bigint>, Number);
    assertClose(got, want, { atol: 2e-6, rtol: 1e-5, what: k });
    worst = Math.max(worst, ...got.map((v, i) => Math.abs(v - want[i])));
  }
  const momentumKeys = Object.keys(ref.momentum);
  assert.deepEqual(
    [...sgd.state.keys()].map((p) => p.key).sort(),
    momentumKeys.sort(),
    'the same parameters have momentum buffers',
  );
  for (const [k, want] of Object.entries(ref.momentum)) {
    assertClose(Array.from(sgd.state.get(byKey.get(k)!)!.data), want, { atol: 2e-6, rtol: 1e-5, what: `momentum ${k}` });
  }
  t.diagnostic(`${policies ? 'TSM policies + partial BN + clipping' : 'single group'}: losses ${ref.loss.map((v) => v.toFixed(5)).join(', ')}; max |param diff| after 2 steps ${worst.toExponential(2)}`);
}

test('two SGD steps with TSM policies, partial BN and clipping match PyTorch', async (t) => {
  await compareWithTorch(true, t);
});

test('two SGD steps with one parameter group, all BN in train mode match PyTorch', async (t) => {
  await compareWithTorch(false, t);
});

/** conv (bias) - frozen BN - relu - conv 3x3 - frozen BN - relu6 - GAP - fc: every pattern the step rewrites. */
class Folded extends Module {
  readonly conv1 = new Conv2d(3, 8, { kernelSize: 3, padding: 1 });
  readonly bn1 = new BatchNorm2d(8);
  readonly conv2 = new Conv2d(8, 8, { kernelSize: 3, padding: 1, bias: false });
  readonly bn2 = new BatchNorm2d(8);
  readonly fc = new Linear(8, 3);
  forward(g: GraphBuilder, x: Value): Value {
    let y = g.relu(this.bn1.forward(g, this.conv1.forward(g, x)));
    y = g.clip(this.bn2.forward(g, this.conv2.forward(g, y)), 0, 6);
    return this.fc.forward(g, g.flatten(g.globalAveragePool(y), 1));
  }
}

test('the step graph folds frozen BatchNorm into the conv and flips kernels by MatMul, with the same step as without', async () => {
  const x = float32([2, 3, 6, 6], randn(makeRng(12), 2 * 3 * 36));
  const results = [];
  for (const foldBatchNorm of [false, true]) {
    const m = new Folded().nameParameters();
    const r = makeRng(3);
    for (const [k, p] of m.namedTensors()) {
      if (p.tensor.dtype !== 'float32') continue;
      const n = numel(p.shape);
      p.tensor = float32(p.shape, k.endsWith('running_var') ? Float32Array.from({ length: n }, () => 0.5 + r.uniform()) : randn(r, n).map((v) => 0.5 * v));
    }
    m.train();
    for (const bn of [m.bn1, m.bn2]) {
      bn.eval();
      bn.frozen = true;
    }
    const sgd = new SGD(singleGroup(m).map((grp) => ({ ...grp, params: grp.params.filter((p) => !p.key.startsWith('bn')) })), { lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    const step = await TrainStep.create(m, sgd, { inputShape: [2, 3, 6, 6], clipGradNorm: 1, outputGrads: true, threads: 1, foldBatchNorm });
    const ops = step.graph.nodes.map((n) => n.op);
    assert.equal(ops.filter((o) => o === 'BatchNormalization').length, foldBatchNorm ? 0 : 2);
    assert.equal(ops.filter((o) => o === 'Conv').length, 3, 'two forward convs and one input gradient: the replaced convs are pruned');
    const negSlices = step.graph.nodes.filter((n) => n.op === 'Slice' && n.inputs[4]?.constant && Array.from(n.inputs[4].constant.data as BigInt64Array).some((v) => v < 0n));
    assert.equal(negSlices.length, 0, 'the kernel flip is a MatMul, not a negative-step Slice');
    const res = await step.run(x, hostTensor('int64', [2], BigInt64Array.of(0n, 2n)));
    results.push({ loss: res.loss, norm: res.gradNorm, grads: res.grads!, weights: new Map(m.namedTensors().flatMap(([k, p]) => (p.tensor.dtype === 'float32' ? [[k, p.tensor.data as Float32Array] as const] : []))) });
    await step.release();
  }
  const [plain, folded] = results;
  assertClose([folded.loss, folded.norm], [plain.loss, plain.norm], { atol: 1e-5, rtol: 1e-5, what: 'loss and gradient norm' });
  for (const [k, g] of plain.grads) assertClose(Array.from(folded.grads.get(k)!.data as Float32Array), Array.from(g.data as Float32Array), { atol: 1e-5, rtol: 1e-4, what: `grad ${k}` });
  for (const [k, w] of plain.weights) assertClose(Array.from(folded.weights.get(k)!), Array.from(w), { atol: 1e-6, rtol: 1e-5, what: `updated ${k}` });
});
