/**
 * Module and Parameter: the TypeScript mirror of `torch.nn.Module`. A module's fields are its children and
 * parameters, declared in PyTorch's registration order, so `stateDict()` keys are PyTorch's keys.
 * `forward` adds graph nodes and computes nothing; a parent runs a child with `this.child.call(g, x)` (torch's
 * `self.child(x)`), which names the child's nodes after its field (`layer1.0.bn1/BatchNormalization`).
 */
import { CheckpointError } from '../errors.js';
import type { GraphBuilder, Value } from '../graph/index.js';
import { type HostTensor, float32, numel, toFloat32 } from '../tensor/index.js';

/** A tensor owned by a module: a learnable parameter or a buffer (running statistics...). */
export class Parameter {
  /** Full state-dict key, set by {@link Module.nameParameters} (e.g. `layer1.0.conv1.net.weight`). */
  key = '';

  constructor(
    /**
     * Current value; replaced (not mutated) by loading. A training step with the update on the host (the Node
     * `TrainStep`'s default) makes a trained parameter's tensor a view of its flat weights and updates it in place.
     */
    public tensor: HostTensor,
    /** Buffers are saved in the state dict but not trained (`running_mean`, `num_batches_tracked`). */
    readonly isBuffer = false,
  ) {}

  get shape(): readonly number[] {
    return this.tensor.shape;
  }

  /** A float32 parameter of `shape` filled with `fill`. */
  static filled(shape: readonly number[], fill = 0, isBuffer = false): Parameter {
    const t = float32(shape);
    if (fill !== 0) (t.data as Float32Array).fill(fill);
    return new Parameter(t, isBuffer);
  }

  /** This parameter as a graph value (initializer or input, by the builder's mode). */
  value(g: GraphBuilder): Value {
    if (!this.key) throw new CheckpointError('TSM_CHECKPOINT_KEY_MISSING', 'parameter has no key: call nameParameters() on the root module first');
    return g.param(this.key, this.tensor);
  }
}

/** Options of {@link Module.loadStateDict}. */
export interface LoadStateDictOptions {
  /** Missing or unexpected keys are an error. @default true */
  readonly strict?: boolean;
  /** File name for messages. */
  readonly source?: string;
}

/** What {@link Module.loadStateDict} did. */
export interface LoadStateDictResult {
  readonly missingKeys: readonly string[];
  readonly unexpectedKeys: readonly string[];
}

/** Base class of every layer and model. */
export abstract class Module {
  /** Train or eval mode, as `nn.Module.training`. Set through {@link Module.train}. */
  training = false;
  /** Graph scope of this module's nodes inside its parent's: its field name, set by {@link Module.nameParameters}. */
  #scope = '';

  /** Children in declaration order (fields holding a Module), as `named_children()`. */
  namedChildren(): [string, Module][] {
    return Object.entries(this).filter((e): e is [string, Module] => e[1] instanceof Module);
  }

  /** Own parameters and buffers (the fields holding a {@link Parameter}) in declaration order. */
  ownTensors(): [string, Parameter][] {
    return Object.entries(this).filter((e): e is [string, Parameter] => e[1] instanceof Parameter);
  }

  /**
   * Every parameter and buffer with its full key, in state-dict order: torch's `named_parameters()` and
   * `named_buffers()` together, as `state_dict()` lists them. Filter on `isBuffer` for the learnable ones.
   */
  namedTensors(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = this.ownTensors().map(([n, p]) => [prefix + n, p]);
    for (const [n, child] of this.namedChildren()) out.push(...child.namedTensors(`${prefix}${n}.`));
    return out;
  }

  /** Every module with its dotted path ('' for this one), as `named_modules()`. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /**
   * Stamps every parameter with its full key and every module with its graph scope (its field name in its
   * parent); call once on the root after construction, and again after replacing a child. Returns `this`.
   */
  nameParameters(prefix = ''): this {
    for (const [k, p] of this.namedTensors(prefix)) p.key = k;
    for (const [, m] of this.namedModules()) for (const [n, child] of m.namedChildren()) child.#scope = m.childScope(n);
    return this;
  }

  /**
   * The graph scope of the child held in field `name`: the name itself. A wrapper that should not show in node
   * names (as TemporalShift's `net`, whose nodes keep the wrapped layer's names) returns ''.
   */
  protected childScope(name: string): string {
    return name;
  }

  /**
   * Runs `fn` with the graph nodes it adds named under this module (`layer1.0.bn1/...`), for a forward that takes
   * more than one input; {@link Module.call} covers the usual case.
   */
  scoped<T>(g: GraphBuilder, fn: () => T): T {
    return g.scope(this.#scope, fn);
  }

  /** {@link Module.forward} with the nodes named under this module, as torch's `self.bn1(x)`. */
  call(g: GraphBuilder, x: Value): Value {
    return this.scoped(g, () => this.forward(g, x));
  }

  /** Sets train (true) or eval (false) mode on this module and every descendant, as `nn.Module.train()`. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  /** Same as `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Keys → tensors, in PyTorch's order. */
  stateDict(): Map<string, HostTensor> {
    return new Map(this.namedTensors().map(([k, p]) => [k, p.tensor]));
  }

  /**
   * Copies tensors in by key. Reports missing, unexpected and shape-mismatched keys together in one message.
   * @throws {CheckpointError} `TSM_CHECKPOINT_SHAPE` for shape mismatches; `TSM_CHECKPOINT_KEY_MISSING` for
   *   missing or unexpected keys when `strict`
   */
  loadStateDict(sd: ReadonlyMap<string, HostTensor>, opts: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const where = opts.source ? ` in ${opts.source}` : '';
    const own = new Map(this.namedTensors());
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, p] of own) {
      const t = sd.get(k);
      if (!t) continue;
      const sameShape = t.shape.length === p.shape.length && t.shape.every((d, i) => d === p.shape[i]);
      // num_batches_tracked is a 0-d int64 in PyTorch; accept any scalar form.
      const bothScalars = numel(t.shape) === 1 && numel(p.shape) === 1;
      if (!sameShape && !bothScalars) mismatched.push(`${k}: checkpoint [${t.shape.join(',')}], model [${p.shape.join(',')}]`);
    }
    const problems: string[] = [];
    if (mismatched.length > 0) problems.push(`${mismatched.length} shape mismatch(es): ${mismatched.slice(0, 8).join('; ')}${mismatched.length > 8 ? '; ...' : ''}`);
    if (strict && missing.length > 0) problems.push(`${missing.length} missing key(s): ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`);
    if (strict && unexpected.length > 0) {
      problems.push(`${unexpected.length} unexpected key(s): ${unexpected.slice(0, 8).join(', ')}${unexpected.length > 8 ? ', ...' : ''}`);
    }
    if (problems.length > 0) {
      const hint = unexpected.some((k) => k.startsWith('module.')) ? ' (keys start with "module.": strip that prefix)' : '';
      throw new CheckpointError(mismatched.length > 0 ? 'TSM_CHECKPOINT_SHAPE' : 'TSM_CHECKPOINT_KEY_MISSING', `state dict does not fit the model${where}: ${problems.join('; ')}${hint}`);
    }
    for (const [k, p] of own) {
      const t = sd.get(k);
      if (!t) continue;
      // Buffers keep their dtype (num_batches_tracked is int64); parameters are computed in float32.
      p.tensor = p.isBuffer && p.tensor.dtype !== 'float32' ? t : toFloat32(t);
    }
    return { missingKeys: missing, unexpectedKeys: unexpected };
  }

  /** Adds this module's computation to the graph. */
  abstract forward(g: GraphBuilder, x: Value): Value;
}
