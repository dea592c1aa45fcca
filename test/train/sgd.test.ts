/**
 * SGD bookkeeping, TSM's parameter groups, the learning-rate schedules, and the optimizer state round trip
 * through a `.pth` checkpoint (ours and torch.load + torch.optim.SGD.load_state_dict).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type PickleValue, encodePth, extractStateDict, parsePth, writePth } from '../../src/checkpoint/index.js';
import { CheckpointError, UsageError } from '../../src/errors.js';
import type { GraphBuilder, Value } from '../../src/graph/index.js';
import { BatchNorm2d, BatchNorm3d, Conv2d, Linear, Module, Sequential } from '../../src/nn/index.js';
import { tsn } from '../../src/models/index.js';
import { float32 } from '../../src/tensor/index.js';
import { SGD, adjustLearningRate, getOptimPolicies, learningRateAt, setTrainMode, singleGroup } from '../../src/train/index.js';
import { runPython } from '../helpers/python.js';
import { U64, gamma } from '../helpers/fp32-bounds.js';

class Net extends Module {
  readonly base_model = new Sequential(
    new Conv2d(3, 4, { kernelSize: 3 }),
    new BatchNorm2d(4),
    new Conv2d(4, 4, { kernelSize: 1, bias: false }),
    new BatchNorm2d(4),
    new Conv2d(4, 2, { kernelSize: 1 }),
    new BatchNorm2d(2),
  );
  readonly new_fc = new Linear(2, 5);
  forward(_g: GraphBuilder, x: Value): Value {
    return x;
  }
}

test('getOptimPolicies: the 8 groups of TSN.get_optim_policies with their multipliers', () => {
  const m = new Net().nameParameters();
  const names = (ps: readonly { key: string }[]) => ps.map((p) => p.key);
  const rgb = getOptimPolicies(m, { fcLr5: true, partialBn: true });
  assert.deepEqual(
    rgb.map((g) => [g.name, g.lrMult, g.decayMult, names(g.params)]),
    [
      ['first_conv_weight', 1, 1, ['base_model.0.weight']],
      ['first_conv_bias', 2, 0, ['base_model.0.bias']],
      ['normal_weight', 1, 1, ['base_model.2.weight', 'base_model.4.weight']],
      ['normal_bias', 2, 0, ['base_model.4.bias']],
      ['BN scale/shift', 1, 0, ['base_model.1.weight', 'base_model.1.bias']],
      ['custom_ops', 1, 1, []],
      ['lr5_weight', 5, 1, ['new_fc.weight']],
      ['lr10_bias', 10, 0, ['new_fc.bias']],
    ],
  );
  const flow = getOptimPolicies(m, { modality: 'Flow', fcLr5: false, partialBn: false });
  assert.deepEqual(flow.slice(0, 2).map((g) => g.lrMult), [5, 10]);
  assert.deepEqual(names(flow[2].params), ['base_model.2.weight', 'base_model.4.weight', 'new_fc.weight']);
  assert.deepEqual(names(flow[3].params), ['base_model.4.bias', 'new_fc.bias']);
  assert.equal(flow[4].params.length, 6, 'every BN without partial BN');
  assert.deepEqual(names(singleGroup(m)[0].params), [...m.namedTensors()].filter(([, p]) => !p.isBuffer).map(([k]) => k));
});

test('setTrainMode freezes every BatchNorm but the first (partial BN), and unfreezes them', () => {
  const m = new Net().nameParameters();
  assert.equal(setTrainMode(m, true), 2);
  const bns = [m.base_model[1], m.base_model[3], m.base_model[5]] as BatchNorm2d[];
  assert.deepEqual(bns.map((b) => b.usesBatchStats), [true, false, false]);
  assert.equal(setTrainMode(m, false), 0);
  assert.deepEqual(bns.map((b) => b.usesBatchStats), [true, true, true]);
});

test('partial BN leaves the non-local blocks\' BatchNorm3d in training mode, as the original (isinstance BatchNorm2d)', () => {
  const m = tsn({ numClass: 5, numSegments: 4, baseModel: 'resnet50', isShift: true, nonLocal: true }).nameParameters();
  const frozenBefore = setTrainMode(m, true);
  const all = m.namedModules().filter(([, x]) => x instanceof BatchNorm2d) as [string, BatchNorm2d][];
  const bn3d = all.filter(([, x]) => x instanceof BatchNorm3d);
  assert.equal(bn3d.length, 5); // layer2 blocks 1,3 and layer3 blocks 1,3,5
  assert.ok(bn3d.every(([, x]) => x.usesBatchStats));
  assert.equal(frozenBefore, all.length - bn3d.length - 1);
});

test("learning-rate schedules follow main.py's adjust_learning_rate", () => {
  const step = { lr: 0.1, lrType: 'step', lrSteps: [10, 20] } as const;
  assert.deepEqual([0, 9, 10, 19, 20, 30].map((e) => learningRateAt(e, step)), [0.1, 0.1, 0.1 * 0.1, 0.1 * 0.1, 0.1 * 0.1 ** 2, 0.1 * 0.1 ** 2]);
  const cos = { lr: 0.02, lrType: 'cos', epochs: 10 } as const;
  assert.equal(learningRateAt(0, cos), 0.02);
  // 0.02 * (1 + cos(pi * 5 / 10)) / 2 in float64: a handful of roundings of terms <= 0.04
  assert.ok(Math.abs(learningRateAt(5, cos) - 0.01) <= gamma(8, U64) * 0.04);
  assert.throws(() => learningRateAt(0, { lr: 1, lrType: 'poly' as 'cos' }), (e: unknown) => e instanceof UsageError && /Must be one of \[step, cos\]/.test(e.message));
  const m = new Net().nameParameters();
  const sgd = new SGD(getOptimPolicies(m, { fcLr5: true }), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  assert.equal(adjustLearningRate(sgd, 12, { lr: 0.01, lrSteps: [10] }), 0.01 * 0.1);
  assert.deepEqual(sgd.paramGroups.map((g) => g.lr), [1, 2, 1, 2, 1, 1, 5, 10].map((k) => 0.01 * 0.1 * k));
  assert.deepEqual(sgd.paramGroups.map((g) => g.weightDecay), [1, 0, 1, 0, 0, 1, 1, 0].map((k) => 5e-4 * k));
});

test('SGD rejects bad hyper-parameters and parameters in two groups', () => {
  const m = new Net().nameParameters();
  assert.throws(() => new SGD(singleGroup(m), { lr: -1 }), UsageError);
  assert.throws(() => new SGD(singleGroup(m), { lr: 0.1, nesterov: true }), /Nesterov/);
  assert.throws(() => new SGD([...singleGroup(m), ...singleGroup(m)], { lr: 0.1 }), /more than one parameter group/);
});

/** An SGD over Net's policies with momentum buffers for some parameters. */
function steppedSgd(): { m: Net; sgd: SGD } {
  const m = new Net().nameParameters();
  const sgd = new SGD(getOptimPolicies(m, { fcLr5: true, partialBn: true }), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  let v = 0;
  for (const p of [(m.base_model[0] as Conv2d).weight, m.new_fc.weight, m.new_fc.bias!]) {
    const n = p.shape.reduce((a, b) => a * b, 1);
    sgd.state.set(p, float32(p.shape, Array.from({ length: n }, () => (v += 0.25))));
  }
  return { m, sgd };
}

test("optimizer state round-trips through a .pth checkpoint in torch's state_dict layout", () => {
  const { m, sgd } = steppedSgd();
  const bytes = encodePth({ stateDict: m.stateDict(), meta: { epoch: 3, arch: 'tiny', optimizer: sgd.stateDict(), best_prec1: 1.5 } });
  const { meta } = extractStateDict(parsePth(bytes, 'x.pth'));
  const opt = meta.optimizer as Map<string, PickleValue>;
  const state = opt.get('state') as Map<number, PickleValue>;
  assert.deepEqual([...state.keys()], [0, 7, 8], 'parameters are numbered across groups in order');
  const groups = opt.get('param_groups') as Map<string, PickleValue>[];
  assert.deepEqual(groups.map((g) => g.get('params')), [[0], [1], [2, 3], [4], [5, 6], [], [7], [8]]);
  assert.deepEqual([...groups[6].keys()], ['lr_mult', 'decay_mult', 'name', 'lr', 'momentum', 'dampening', 'weight_decay', 'nesterov', 'maximize', 'foreach', 'differentiable', 'params']);
  const fresh = new SGD(getOptimPolicies(m, { fcLr5: true, partialBn: true }), { lr: 1, momentum: 0.5 });
  fresh.loadStateDict(opt, 'x.pth');
  assert.deepEqual(fresh.paramGroups.map((g) => [g.lr, g.momentum, g.weightDecay]), sgd.paramGroups.map((g) => [g.lr, g.momentum, g.weightDecay]));
  for (const [p, buf] of sgd.state) assert.deepEqual(Array.from(fresh.state.get(p)!.data), Array.from(buf.data), p.key);
  const other = new SGD(singleGroup(m), { lr: 0.1 });
  assert.throws(() => other.loadStateDict(opt, 'x.pth'), (e: unknown) => e instanceof CheckpointError && /8 parameter groups, this optimizer has 1/.test(e.message));
});

test('torch.optim.SGD loads our optimizer state and steps with it', async () => {
  const { m, sgd } = steppedSgd();
  const dir = mkdtempSync(join(tmpdir(), 'tsm-opt-'));
  try {
    const path = join(dir, 'ck.pth');
    await writePth(path, { stateDict: m.stateDict(), meta: { epoch: 1, arch: 'tiny', optimizer: sgd.stateDict(), best_prec1: 0 } });
    const out = runPython(
      `
import sys, torch
ck = torch.load(sys.argv[1])
opt = ck['optimizer']
ps = [torch.nn.Parameter(torch.zeros(s)) for s in [(4, 3, 3, 3), (4,), (4, 4, 1, 1), (2, 4, 1, 1), (2,), (4,), (4,), (5, 2), (5,)]]
sizes = [len(g['params']) for g in opt['param_groups']]
groups, i = [], 0
for g, n in zip(opt['param_groups'], sizes):
    groups.append({'params': ps[i:i + n], 'lr_mult': g['lr_mult'], 'decay_mult': g['decay_mult'], 'name': g['name']}); i += n
sgd = torch.optim.SGD(groups, 0.01, momentum=0.9, weight_decay=5e-4)
sgd.load_state_dict(opt)
for p in ps: p.grad = torch.zeros_like(p)
sgd.step()
import json
print(json.dumps({'keys': sorted(opt['state'].keys()), 'names': [g['name'] for g in sgd.param_groups], 'buf': float(sgd.state[ps[8]]['momentum_buffer'].sum()), 'p0': float(ps[0].sum())}))
`,
      [path],
    );
    // After one zero-gradient step each buffer is scaled by the momentum (0.9); p -= lr * buf.
    const fcBuf = Array.from(sgd.state.get(m.new_fc.bias!)!.data);
    const convBuf = Array.from(sgd.state.get((m.base_model[0] as Conv2d).weight)!.data);
    const fcBias = fcBuf.reduce((a, b) => a + b, 0);
    const conv = convBuf.reduce((a, b) => a + b, 0);
    // PyTorch scales each fp32 buffer element (p -= lr * buf: two more roundings) and sums n of them in fp32:
    // gamma_(n+3) of the sum of |terms|; our float64 sums are exact to far less
    const sumBound = (buf: number[], scale: number) => gamma(buf.length + 3) * scale * buf.reduce((a, b) => a + Math.abs(b), 0);
    const r = JSON.parse(out) as { keys: number[]; names: string[]; buf: number; p0: number };
    assert.deepEqual(r.keys, [0, 7, 8]);
    assert.deepEqual(r.names, ['first_conv_weight', 'first_conv_bias', 'normal_weight', 'normal_bias', 'BN scale/shift', 'custom_ops', 'lr5_weight', 'lr10_bias']);
    assert.ok(Math.abs(r.buf - 0.9 * fcBias) <= sumBound(fcBuf, 0.9), `momentum buffer sum ${r.buf} vs ${0.9 * fcBias}`);
    assert.ok(Math.abs(r.p0 + 0.01 * 0.9 * conv) <= sumBound(convBuf, 0.01 * 0.9), `first conv sum ${r.p0} vs ${-0.01 * 0.9 * conv}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
