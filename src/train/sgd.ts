/**
 * SGD with momentum and weight decay, PyTorch semantics (`torch.optim.SGD`):
 *   d = grad + weight_decay * p;  buf = momentum * buf + d  (buf = d on the first step);  p -= lr * buf.
 * The update itself is emitted into the training-step graph ({@link emitSgdUpdate}); this class holds the
 * hyper-parameters per group and the momentum buffers, and saves/loads them in `optimizer.state_dict()` form.
 */
import { type OrderedDict, type PickleValue, type PyKey, PyFloat, isHostTensor, pyFloat } from '../checkpoint/py-values.js';
import { CheckpointError, UsageError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/index.js';
import type { Parameter } from '../nn/index.js';
import { type HostTensor, hostTensor, numel, toFloat32 } from '../tensor/index.js';
import type { ParamGroup } from './policies.js';

/** Options of {@link SGD} (`torch.optim.SGD`'s arguments). */
export interface SgdOptions {
  /** Base learning rate; each group's lr is `lr * lrMult`. */
  readonly lr: number;
  /** @default 0 */
  readonly momentum?: number;
  /** Base weight decay; each group's is `weightDecay * decayMult`. @default 0 */
  readonly weightDecay?: number;
  /** @default false */
  readonly nesterov?: boolean;
}

/** A parameter group with its current hyper-parameters (torch's `param_groups[i]`). */
export interface SgdGroup extends ParamGroup {
  lr: number;
  weightDecay: number;
  momentum: number;
  readonly nesterov: boolean;
}

/** The per-parameter values of one SGD update in the graph. */
export interface SgdUpdateInputs {
  /** The parameter, any shape. */
  readonly param: Value;
  /** Its gradient (already clipped), same shape. */
  readonly grad: Value;
  /** Momentum buffer, flat `[numel]` (zeros before the first step). */
  readonly buffer?: Value;
  /** Scalar learning rate of the group. */
  readonly lr: Value;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  /**
   * Names for the updated parameter and buffer values (the step graph's outputs), so they are produced under
   * those names instead of being copied by an Identity. @default generated names
   */
  readonly names?: { readonly param?: string; readonly buffer?: string };
}

/**
 * Emits one parameter's SGD update. Everything runs on flat `[numel]` views.
 * NOTE: elementwise ops on tensors with trailing size-1 dims (1x1 conv weights) are per-element slow in
 * onnxruntime, so the math is on flattened views (docs/training.md, "Fast ONNX formulations for training on
 * onnxruntime CPU: measured facts").
 * NOTE: the first step feeds a zero buffer: `momentum * 0 + d` is exactly torch's `buf = d.clone()`.
 * @returns the updated flat parameter and momentum buffer (undefined without momentum)
 */
export function emitSgdUpdate(g: GraphBuilder, u: SgdUpdateInputs): { param: Value; buffer?: Value } {
  const n = numel(u.param.shape as number[]);
  const p = g.reshape(u.param, [n]);
  let d = g.reshape(u.grad, [n]);
  if (u.weightDecay !== 0) d = g.add(d, g.mul(p, g.scalar(u.weightDecay)));
  let step = d;
  let buffer: Value | undefined;
  if (u.momentum !== 0) {
    if (!u.buffer) throw new UsageError('SGD with momentum needs a momentum buffer input');
    buffer = named(g, 'Add', [g.mul(u.buffer, g.scalar(u.momentum)), d], u.names?.buffer);
    step = u.nesterov ? g.add(d, g.mul(buffer, g.scalar(u.momentum))) : buffer;
  }
  return { param: named(g, 'Sub', [p, g.mul(step, u.lr)], u.names?.param), buffer };
}

/**
 * A binary op whose output gets `name` when given.
 * NOTE: a graph output under another name costs an Identity, which onnxruntime runs as a copy of the whole
 * tensor: for every parameter and momentum buffer, each step.
 */
function named(g: GraphBuilder, op: 'Add' | 'Sub', inputs: [Value, Value], name?: string): Value {
  return name === undefined ? g.op(op, inputs)[0] : g.op(op, inputs, {}, { outputNames: [name] })[0];
}

/** The torch defaults every SGD param group carries in `state_dict()`, after the group's own keys. */
const isMap = (v: PickleValue | undefined): v is Map<PyKey, PickleValue> => v instanceof Map;
const num = (v: PickleValue | undefined): number | undefined => (typeof v === 'number' ? v : v instanceof PyFloat ? v.value : typeof v === 'bigint' ? Number(v) : undefined);

/**
 * SGD state: groups, their current lr / weight decay, and momentum buffers (host tensors, one per parameter
 * that has been stepped). Mirrors `torch.optim.SGD`; `dampening` is 0 as in TSM's main.py.
 * @example
 * const sgd = new SGD(getOptimPolicies(model), { lr: 0.01, momentum: 0.9, weightDecay: 5e-4 });
 * adjustLearningRate(sgd, epoch, { lr: 0.01, lrType: 'step', lrSteps: [20, 40], epochs: 50 });
 */
export class SGD {
  readonly paramGroups: SgdGroup[];
  /** Momentum buffers by parameter (torch's `state[p]['momentum_buffer']`), in the parameter's shape. */
  readonly state = new Map<Parameter, HostTensor<'float32'>>();
  /** The base values the groups' multipliers apply to. */
  readonly defaults: Required<SgdOptions>;

  /**
   * @param groups parameter groups (see {@link getOptimPolicies}, {@link singleGroup})
   * @throws {UsageError} for a negative lr / momentum / weight decay, or nesterov without momentum
   */
  constructor(groups: readonly ParamGroup[], opts: SgdOptions) {
    const momentum = opts.momentum ?? 0;
    const weightDecay = opts.weightDecay ?? 0;
    const nesterov = opts.nesterov ?? false;
    if (!(opts.lr >= 0)) throw UsageError.expected('lr', 'a non-negative number', opts.lr);
    if (!(momentum >= 0)) throw UsageError.expected('momentum', 'a non-negative number', momentum);
    if (!(weightDecay >= 0)) throw UsageError.expected('weight_decay', 'a non-negative number', weightDecay);
    if (nesterov && momentum <= 0) throw new UsageError('Nesterov momentum requires a momentum (got momentum 0)');
    this.defaults = { lr: opts.lr, momentum, weightDecay, nesterov };
    const seen = new Set<Parameter>();
    for (const grp of groups) {
      for (const p of grp.params) {
        if (seen.has(p)) throw new UsageError(`some parameters appear in more than one parameter group ("${p.key}" in "${grp.name}")`);
        seen.add(p);
      }
    }
    this.paramGroups = groups.map((grp) => ({
      ...grp,
      lr: opts.lr * grp.lrMult,
      weightDecay: weightDecay * grp.decayMult,
      momentum,
      nesterov,
    }));
  }

  /** Every parameter being optimized, in group order (torch's `state_dict` numbering). */
  get params(): Parameter[] {
    return this.paramGroups.flatMap((grp) => [...grp.params]);
  }

  /** The momentum buffer of `p` as a flat `[numel]` tensor, zeros when it has none yet. */
  flatBuffer(p: Parameter): HostTensor<'float32'> {
    const n = numel(p.shape);
    const buf = this.state.get(p);
    return hostTensor('float32', [n], buf ? buf.data : new Float32Array(n));
  }

  /**
   * `optimizer.state_dict()`: `{'state': {idx: {'momentum_buffer': T}}, 'param_groups': [...]}`, with the
   * parameters numbered across groups in order and every group's keys as torch 1.13 writes them.
   */
  stateDict(): Map<string, PickleValue> {
    const state = new Map<PyKey, PickleValue>();
    const groups: PickleValue[] = [];
    let idx = 0;
    for (const grp of this.paramGroups) {
      const ids: number[] = [];
      for (const p of grp.params) {
        const buf = this.state.get(p);
        if (buf) state.set(idx, new Map<PyKey, PickleValue>([['momentum_buffer', buf]]));
        ids.push(idx++);
      }
      const packed = new Map<PyKey, PickleValue>();
      // TSM's policies put lr_mult, decay_mult and name first; torch's defaults follow.
      if (grp.name !== 'default') {
        packed.set('lr_mult', grp.lrMult);
        packed.set('decay_mult', grp.decayMult);
        packed.set('name', grp.name);
      }
      packed.set('lr', pyFloat(grp.lr));
      packed.set('momentum', pyFloat(grp.momentum));
      packed.set('dampening', 0);
      packed.set('weight_decay', pyFloat(grp.weightDecay));
      packed.set('nesterov', grp.nesterov);
      packed.set('maximize', false);
      packed.set('foreach', null);
      packed.set('differentiable', false);
      packed.set('params', ids);
      groups.push(packed);
    }
    return new Map<string, PickleValue>([
      ['state', state],
      ['param_groups', groups],
    ]);
  }

  /**
   * `optimizer.load_state_dict(sd)`: momentum buffers and each group's lr, momentum and weight decay.
   * @throws {CheckpointError} `TSM_CHECKPOINT_FORMAT` when the groups or buffer shapes do not match this optimizer
   */
  loadStateDict(sd: PickleValue, source = 'optimizer'): void {
    const root = sd as Map<PyKey, PickleValue> | OrderedDict;
    const bad = (msg: string): never => {
      throw new CheckpointError('TSM_CHECKPOINT_FORMAT', `${source}: ${msg}`);
    };
    if (!isMap(root)) return bad('expected a dict with "state" and "param_groups"');
    const groups = root.get('param_groups');
    const state = root.get('state');
    if (!Array.isArray(groups) || !isMap(state)) return bad('expected a dict with "state" and "param_groups"');
    if (groups.length !== this.paramGroups.length) {
      bad(`loaded state dict has ${groups.length} parameter groups, this optimizer has ${this.paramGroups.length} (${this.paramGroups.map((g) => g.name).join(', ')})`);
    }
    const params = this.params;
    const byIndex = new Map<number, Parameter>();
    groups.forEach((grp, i) => {
      if (!isMap(grp)) return bad(`param_groups[${i}] is not a dict`);
      const ids = grp.get('params');
      const mine = this.paramGroups[i];
      if (!Array.isArray(ids) || ids.length !== mine.params.length) {
        return bad(`loaded state dict contains a parameter group that doesn't match the size of optimizer's group ("${mine.name}": ${Array.isArray(ids) ? ids.length : '?'} vs ${mine.params.length})`);
      }
      ids.forEach((id, j) => byIndex.set(Number(id), mine.params[j]));
      mine.lr = num(grp.get('lr')) ?? mine.lr;
      mine.momentum = num(grp.get('momentum')) ?? mine.momentum;
      mine.weightDecay = num(grp.get('weight_decay')) ?? mine.weightDecay;
    });
    this.state.clear();
    for (const [k, v] of state) {
      const p = byIndex.get(Number(k));
      if (!p) return bad(`state for parameter ${String(k)}, which is in no group (${params.length} parameters)`);
      const buf = isMap(v) ? v.get('momentum_buffer') : undefined;
      if (buf === undefined || buf === null) continue;
      if (!isHostTensor(buf)) return bad(`state[${String(k)}].momentum_buffer is not a tensor`);
      if (numel(buf.shape) !== numel(p.shape)) bad(`state[${String(k)}].momentum_buffer has shape [${buf.shape.join(',')}], "${p.key}" is [${p.shape.join(',')}]`);
      this.state.set(p, hostTensor('float32', p.shape, toFloat32(buf).data));
    }
  }
}
