/**
 * Where the time of one TSM training step goes: runs the step of bench/train-step.ts (same shapes, seeded weights,
 * no PyTorch needed) with onnxruntime's profiler on, and prints kernel time per op type and the slowest nodes,
 * as medians over the profiled steps.
 *
 * usage: node --import tsx bench/train-step-profile.ts [--arch mobilenetv2] [--size 112] [--segments 8]
 *        [--batch 2] [--threads 2] [--steps 3] [--warmup 1] [--top 25] [--keep]
 * `--keep` leaves the JSON trace (its path is printed) for chrome://tracing or Perfetto.
 */
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TSN } from '../src/models/tsn.js';
import { float32, hostTensor } from '../src/tensor/index.js';
import { SGD, TrainStep, adjustLearningRate, getOptimPolicies, initWeights, setTrainMode } from '../src/train/index.js';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'mobilenetv2' },
    size: { type: 'string', default: '112' },
    segments: { type: 'string', default: '8' },
    batch: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '1' },
    top: { type: 'string', default: '25' },
    keep: { type: 'boolean', default: false },
  },
});
const num = (k: keyof typeof values) => Number(values[k]);

interface TraceEvent {
  readonly cat: string;
  readonly name: string;
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}

async function main(): Promise<void> {
  const [t, size, b] = [num('segments'), num('size'), num('batch')];
  const model = new TSN({ numClass: 174, numSegments: t, baseModel: values.arch!, isShift: true, dropout: 0.5 });
  initWeights(model, 0);
  setTrainMode(model);
  const base = model.base_model as unknown as Record<string, { eval(): void }> & { lastLayerName: string };
  base[base.lastLayerName].eval(); // as bench/train-step.ts: the classifier dropout is off
  const sgd = new SGD(getOptimPolicies(model), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
  adjustLearningRate(sgd, 0, { lr: 0.01, lrSteps: [50, 100] });
  const stem = `tsm-step-profile-${process.pid}`;
  const prefix = join(tmpdir(), stem);
  const step = await TrainStep.create(model, sgd, {
    inputShape: [b, t * 3, size, size],
    clipGradNorm: 20,
    threads: num('threads'),
    sessionOptions: { enableProfiling: true, profileFilePrefix: prefix },
  });
  let seed = 1;
  const input = float32([b, t * 3, size, size], Float32Array.from({ length: b * t * 3 * size * size }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1));
  const labels = hostTensor('int64', [b], BigInt64Array.from({ length: b }, (_, i) => BigInt(i % 174)));
  const wall: number[] = [];
  for (let i = 0; i < num('warmup') + num('steps'); i++) {
    const t0 = performance.now();
    await step.run(input, labels);
    wall.push(performance.now() - t0);
  }
  // NOTE: onnxruntime writes the trace (`<prefix>_<timestamp>.json`) when the session ends
  await step.release();
  const found = readdirSync(tmpdir()).filter((f) => f.startsWith(stem) && f.endsWith('.json'));
  if (found.length !== 1) throw new Error(`expected one profile ${prefix}_*.json, found ${found.length}`);
  const file = join(tmpdir(), found[0]);
  const trace = JSON.parse(readFileSync(file, 'utf8')) as TraceEvent[];
  // one "SequentialExecutor::Execute" (model_run) event per run; kernel events sit between them
  const runs: TraceEvent[][] = [];
  let cur: TraceEvent[] = [];
  for (const e of trace) {
    if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) cur.push(e);
    else if (e.cat === 'Session' && e.name === 'model_run') {
      runs.push(cur);
      cur = [];
    }
  }
  const profiled = runs.slice(num('warmup'));
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const byOp = new Map<string, number[]>();
  const byNode = new Map<string, number[]>();
  profiled.forEach((evs, r) => {
    for (const e of evs) {
      const op = e.args?.op_name ?? '?';
      const node = `${op} ${e.name.replace(/_kernel_time$/, '')}`;
      (byOp.get(op) ?? byOp.set(op, profiled.map(() => 0)).get(op)!)[r] += e.dur / 1000;
      (byNode.get(node) ?? byNode.set(node, profiled.map(() => 0)).get(node)!)[r] += e.dur / 1000;
    }
  });
  const kernelMs = median(profiled.map((evs) => evs.reduce((a, e) => a + e.dur / 1000, 0)));
  console.log(`${values.arch} ${t}x${size}x${size} batch ${b}, ${values.threads} threads: wall ${median(wall.slice(num('warmup'))).toFixed(1)} ms/step, kernels ${kernelMs.toFixed(1)} ms (median of ${profiled.length})`);
  console.log('\nop type                         ms     %  nodes');
  const opRows = [...byOp].map(([op, ms]) => [op, median(ms)] as const).sort((x, y) => y[1] - x[1]);
  const count = (op: string) => new Set(profiled[0].filter((e) => e.args?.op_name === op).map((e) => e.name)).size;
  for (const [op, ms] of opRows) console.log(`${op.padEnd(28)}${ms.toFixed(1).padStart(7)}${((100 * ms) / kernelMs).toFixed(1).padStart(6)}  ${count(op)}`);
  console.log(`\nslowest ${values.top} nodes`);
  const nodeRows = [...byNode].map(([n, ms]) => [n, median(ms)] as const).sort((x, y) => y[1] - x[1]);
  for (const [n, ms] of nodeRows.slice(0, num('top'))) console.log(`${ms.toFixed(2).padStart(8)} ms  ${n}`);
  if (values.keep) console.log(`\ntrace: ${file}`);
  else rmSync(file, { force: true });
}

await main();
