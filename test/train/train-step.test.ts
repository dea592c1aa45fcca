/**
 * The one-graph training step against PyTorch on a tiny network (first conv with bias, BN, depthwise conv,
 * ReLU6, 1x1 conv with bias, GAP, Linear): two steps of SGD with momentum, weight decay, clipping, TSM's
 * parameter groups and partial BN, compared with torch.optim.SGD + clip_grad_norm_ run by Debian's Python in
 * float64, within the fp32 rounding-error budget of the steps (test/train/ref/tiny_step.py), which PyTorch's own
 * fp32 run must meet too.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { GraphBuilder, Value } from '../../src/graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Module, type Parameter } from '../../src/nn/index.js';
import { float32, hostTensor, numel } from '../../src/tensor/index.js';
import { SGD, TrainStep, adjustLearningRate, getOptimPolicies, setTrainMode, singleGroup } from '../../src/train/index.js';
import { assertWithin } from '../helpers/assert-close.js';
import { U32, U64 } from '../helpers/fp32-bounds.js';
import { runPythonFile } from '../helpers/python.js';
import { makeRng, randn } from '../helpers/rng.js';
import { SmallConvNet } from '../helpers/small-convnet.js';


/** One run of the steps: losses, gradient norms, final state dict, momentum buffers, last clipped gradients. */
interface StepResult {
  loss: number[];
  norm: number[];
  state: Record<string, number[]>;
  momentum: Record<string, number[]>;
  grads: Record<string, number[]>;
}

/** test/train/ref/tiny_step.py's output: PyTorch in float32 and float64, and the fp32 budget (sigma) of each value. */
interface TorchRuns {
  fp32: StepResult;
  fp64: StepResult;
  sigma: StepResult;
  lambda: number;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Runs the steps in PyTorch (float32, float64 and the fp32 Monte Carlo budget). */
function torchSteps(cfg: Record<string, unknown>): TorchRuns {
  const dir = mkdtempSync(join(tmpdir(), 'tsm-train-'));
  try {
    const cfgPath = join(dir, 'cfg.json');
    writeFileSync(cfgPath, JSON.stringify(cfg));
    return JSON.parse(runPythonFile(join(here, 'ref', 'tiny_step.py'), [join(here, '..', 'helpers'), cfgPath], 600_000)) as TorchRuns;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The bound of `sides` fp32 computations against the float64 one: lambda times each value's Monte Carlo sigma,
 * floored at the median over the tensor (test/helpers/fp32_budget.py), plus the float64 side's own error (the same
 * budget at u = 2^-53). A value with sigma 0 (an integer counter, a frozen parameter) must match exactly.
 */
function budget(sigma: readonly number[], lambda: number, sides = 1): number[] {
  const median = [...sigma].sort((a, b) => a - b)[Math.floor(sigma.length / 2)];
  return sigma.map((s) => (sides + U64 / U32) * lambda * Math.max(s, median));
}

/** Parameters and buffers (not the batch counters) as tiny_step.py's `params`. */
function paramsOf(m: Module): Record<string, { data: number[]; shape: readonly number[] }> {
  const params: Record<string, { data: number[]; shape: readonly number[] }> = {};
  for (const [k, p] of m.namedTensors()) if (!k.endsWith('num_batches_tracked')) params[k] = { data: Array.from(p.tensor.data as Float32Array), shape: p.shape };
  return params;
}

function initTiny(seed: number): SmallConvNet {
  const m = new SmallConvNet(4, 3).nameParameters();
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
  const torch = torchSteps({ model: 'tiny', params: paramsOf(m), policies, lr, wd, clip, shape, inputs: inputs.map((x) => Array.from(x)), labels });
  const ref = torch.fp64;
  const { sigma, lambda } = torch;

  setTrainMode(m, policies);
  const groups = policies ? getOptimPolicies(m, { fcLr5: true, partialBn: true }) : singleGroup(m);
  const sgd = new SGD(groups, { lr, momentum: 0.9, weightDecay: wd });
  adjustLearningRate(sgd, 0, { lr, lrType: 'step', lrSteps: [10] });
  const step = await TrainStep.create(m, sgd, { inputShape: shape, clipGradNorm: clip, threads: 1 });
  const report: string[] = [];
  /** ours and PyTorch's fp32 against float64, within the budget; the worst error / bound of ours is reported */
  const check = (what: string, ours: readonly number[], want: readonly number[], torch32: readonly number[], s: readonly number[]) => {
    const bound = budget(s, lambda);
    const r = assertWithin(ours, want, bound, what);
    assertWithin(torch32, want, bound, `PyTorch fp32 ${what} (the budget must hold for it too)`);
    report.push(`${what} ${r.maxErr.toExponential(1)} (${r.maxRatio.toPrecision(1)})`);
  };
  for (let i = 0; i < 2; i++) {
    const r = await step.run(float32(shape, inputs[i]), hostTensor('int64', [4], BigInt64Array.from(labels[i].map(BigInt))));
    check(`loss ${i}`, [r.loss], [ref.loss[i]], [torch.fp32.loss[i]], [sigma.loss[i]]);
    check(`grad norm ${i}`, [r.gradNorm], [ref.norm[i]], [torch.fp32.norm[i]], [sigma.norm[i]]);
  }
  await step.release();
  const byKey = new Map<string, Parameter>(m.namedTensors());
  for (const [k, want] of Object.entries(ref.state)) {
    check(k, Array.from(byKey.get(k)!.tensor.data as ArrayLike<number | bigint>, Number), want, torch.fp32.state[k], sigma.state[k]);
  }
  const momentumKeys = Object.keys(ref.momentum);
  assert.deepEqual(
    [...sgd.state.keys()].map((p) => p.key).sort(),
    momentumKeys.sort(),
    'the same parameters have momentum buffers',
  );
  for (const [k, want] of Object.entries(ref.momentum)) {
    check(`momentum ${k}`, Array.from(sgd.state.get(byKey.get(k)!)!.data), want, torch.fp32.momentum[k], sigma.momentum[k]);
  }
  t.diagnostic(`${policies ? 'TSM policies + partial BN + clipping' : 'single group'}: losses ${ref.loss.map((v) => v.toFixed(5)).join(', ')}`);
  t.diagnostic(`max |ours - float64| (of the bound): ${report.join(', ')}`);
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

test('the step graph folds frozen BatchNorm into the conv and flips kernels by MatMul, with the same step as without', async (t) => {
  const x = float32([2, 3, 6, 6], randn(makeRng(12), 2 * 3 * 36));
  const results = [];
  let torch: TorchRuns | undefined;
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
    torch ??= torchSteps({ model: 'folded', params: paramsOf(m), policies: false, lr: 0.1, wd: 1e-3, clip: 1, shape: [2, 3, 6, 6], inputs: [Array.from(x.data as Float32Array)], labels: [[0, 2]] });
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
  // Both formulations against the float64 step, each within the fp32 budget (so within two budgets of each other)
  const { fp64, sigma, lambda } = torch!;
  const worst: Record<string, number> = {};
  for (const [name, r] of [['plain', results[0]], ['folded', results[1]]] as const) {
    const within = (what: string, ours: ArrayLike<number>, want: readonly number[], s: readonly number[]) => {
      worst[name] = Math.max(worst[name] ?? 0, assertWithin(ours, want, budget(s, lambda), `${name}: ${what}`).maxRatio);
    };
    within('loss', [r.loss], fp64.loss, sigma.loss);
    within('gradient norm', [r.norm], fp64.norm, sigma.norm);
    assert.deepEqual([...r.grads.keys()].sort(), Object.keys(fp64.grads).sort());
    for (const [k, g] of r.grads) within(`grad ${k}`, g.data as Float32Array, fp64.grads[k], sigma.grads[k]);
    for (const [k, w] of r.weights) within(`updated ${k}`, w, fp64.state[k], sigma.state[k]);
  }
  t.diagnostic(`max |ours - float64| / bound: plain ${worst.plain.toPrecision(2)}, folded ${worst.folded.toPrecision(2)}`);
});
