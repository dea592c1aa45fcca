/**
 * The SGD update on the host: the trained parameters and their momentum buffers each live in one flat
 * Float32Array, and the update (clipping, weight decay, momentum, step) runs in place over them, reading the
 * gradients the step graph output. The model's Parameters and the optimizer's momentum buffers are views into those
 * arrays, so the training step feeds the weights to onnxruntime without copying, and nothing is re-packed between
 * steps.
 * NOTE: the gradients are not kept in a flat array of their own. onnxruntime-node (1.30) copies every output into
 * a new ArrayBuffer after the run, pre-allocated or not, so a gradient array that onnxruntime writes into would only
 * add a third copy; without it the gradients sit in onnxruntime's arena (in space the activations freed; measured:
 * the arena does not grow) and in the copies the step hands over, which the update reads (ResNet-50: 98 MB less).
 * NOTE: each operation is one float32 operation in the order of the in-graph update ({@link emitSgdUpdate}), so
 * the host update gives the graph's bits (test/train/flat-sgd.test.ts). The loop runs in WebAssembly SIMD
 * (sgd-kernel.wat) where the runtime has it, else in JS with `Math.fround` after every operation: the same bits.
 * Node only (reads the .wasm file).
 */
import { readFileSync } from 'node:fs';
import { InternalError } from '../errors.js';
import type { Parameter } from '../nn/index.js';
import { type HostTensor, hostTensor, numel } from '../tensor/index.js';
import type { SGD } from './sgd.js';

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  sgd(w: number, g: number, b: number, n: number, coef: number, wd: number, m: number, lr: number, flags: number): void;
}

const kernelModule = ((): WebAssembly.Module | undefined => {
  try {
    return new WebAssembly.Module(readFileSync(new URL('./sgd-kernel.wasm', import.meta.url)));
  } catch {
    return undefined; // no WebAssembly SIMD here: the JS loop does the work
  }
})();

/** Flags of one parameter's update, as sgd-kernel.wat reads them. */
const WEIGHT_DECAY = 1;
const MOMENTUM = 2;
const NESTEROV = 4;

/** Elements each parameter's slice is aligned to (64 bytes: a cache line, and whole SIMD vectors). */
const ALIGN = 16;

/** The largest WebAssembly memory this uses (wasm32 addresses 4 GiB; leave room below the limit). */
const MAX_WASM_BYTES = 3.5 * 2 ** 30;

const fr = Math.fround;

/** One parameter's update in JS, rounding to float32 after every operation as the graph's float32 ops do. */
function sgdJs(w: Float32Array, g: Float32Array, b: Float32Array, coef: number, wd: number, m: number, lr: number, flags: number): void {
  const decay = (flags & WEIGHT_DECAY) !== 0;
  const mom = (flags & MOMENTUM) !== 0;
  const nesterov = (flags & NESTEROV) !== 0;
  for (let i = 0; i < w.length; i++) {
    let d = fr(g[i] * coef);
    if (decay) d = fr(d + fr(w[i] * wd));
    let s = d;
    if (mom) {
      s = fr(fr(b[i] * m) + d);
      b[i] = s;
      if (nesterov) s = fr(d + fr(s * m));
    }
    w[i] = fr(w[i] - fr(s * lr));
  }
}

/** Options of {@link FlatSgd}. */
export interface FlatSgdOptions {
  /** Run the update in WebAssembly SIMD where available (false: the JS loop; tests compare the two). @default true */
  readonly simd?: boolean;
}

/**
 * Flat weights and momentum buffers of a list of parameters, and the in-place SGD update over them (the
 * gradients are read where the step left them).
 * @example
 * const flat = new FlatSgd(built.trained);
 * flat.attach(sgd);                         // the Parameters and momentum buffers become views
 * // ... run the step graph (update: 'host'): the gradients and their norm ...
 * flat.step(sgd, built.trained.map((p) => out[built.gradOutputs.get(p)].data), gradNorm, 20);
 */
export class FlatSgd {
  /** Element offset of each parameter's slice. */
  private readonly offsets: number[] = [];
  /** Total elements (with alignment padding). */
  readonly size: number;
  private readonly weights: Float32Array;
  private readonly momentum: Float32Array;
  /** Where the SIMD kernel reads one parameter's gradient (the module's memory; sized for the largest). */
  private readonly scratch?: Float32Array;
  private readonly kernel?: KernelExports;
  /** Each parameter's slice of the weights and momentum (made once: {@link attach} compares identity). */
  private readonly weightViews: Float32Array[];
  private readonly momentumViews: Float32Array[];
  /** Group index of each parameter in the optimizer it was attached to. */
  private groupIndex: number[] = [];

  /**
   * @param params the trained parameters, float32, in a fixed order
   */
  constructor(
    readonly params: readonly Parameter[],
    opts: FlatSgdOptions = {},
  ) {
    let size = 0;
    for (const p of params) {
      this.offsets.push(size);
      size += Math.ceil(numel(p.shape) / ALIGN) * ALIGN;
    }
    this.size = size;
    const largest = Math.max(0, ...params.map((p) => Math.ceil(numel(p.shape) / ALIGN) * ALIGN));
    const bytes = (2 * size + largest) * 4;
    if ((opts.simd ?? true) && kernelModule && bytes <= MAX_WASM_BYTES) {
      const k = new WebAssembly.Instance(kernelModule, {}).exports as unknown as KernelExports;
      k.memory.grow(Math.ceil(bytes / 65536));
      // NOTE: views of the module's memory; it never grows again, so they stay valid
      this.weights = new Float32Array(k.memory.buffer, 0, size);
      this.momentum = new Float32Array(k.memory.buffer, size * 4, size);
      this.scratch = new Float32Array(k.memory.buffer, 2 * size * 4, largest);
      this.kernel = k;
    } else {
      this.weights = new Float32Array(size);
      this.momentum = new Float32Array(size);
    }
    const views = (a: Float32Array) => params.map((p, i) => a.subarray(this.offsets[i], this.offsets[i] + numel(p.shape)));
    this.weightViews = views(this.weights);
    this.momentumViews = views(this.momentum);
  }

  /** Whether the update runs in WebAssembly SIMD. */
  get simd(): boolean {
    return this.kernel !== undefined;
  }

  /**
   * Makes each parameter's tensor and its momentum buffer in `optimizer.state` views of the flat arrays. A tensor
   * or buffer replaced since the last call (a checkpoint load, `loadStateDict` of the optimizer) is copied in
   * first; a parameter without a momentum buffer gets zeros (torch's first step: `buf = d`).
   */
  attach(optimizer: SGD): void {
    const groupOf = new Map<Parameter, number>();
    optimizer.paramGroups.forEach((grp, gi) => grp.params.forEach((p) => groupOf.set(p, gi)));
    this.groupIndex = this.params.map((p) => {
      const gi = groupOf.get(p);
      if (gi === undefined) throw new InternalError(`parameter "${p.key}" is in no group of the optimizer`);
      return gi;
    });
    this.params.forEach((p, i) => {
      const w = this.weightViews[i];
      if (p.tensor.data !== w) {
        w.set(p.tensor.data as Float32Array);
        p.tensor = hostTensor('float32', p.shape, w);
      }
      const b = this.momentumViews[i];
      const buf = optimizer.state.get(p);
      if (!buf) {
        if (optimizer.paramGroups[this.groupIndex[i]].momentum !== 0) b.fill(0);
      } else if (buf.data !== b) {
        b.set(buf.data);
        optimizer.state.set(p, hostTensor('float32', p.shape, b));
      }
    });
  }

  /**
   * `clip_grad_norm_(maxNorm)` then `optimizer.step()`, in place: weights and momentum buffers (as views in
   * `optimizer.state`, for the groups with momentum) are updated from `grads`.
   * @param grads each parameter's gradient (unclipped; its element order, any shape)
   * @param gradNorm total 2-norm of the gradients, as the step graph computes it (float32)
   * @param maxNorm clipping threshold; undefined = no clipping
   */
  step(optimizer: SGD, grads: readonly Float32Array[], gradNorm: number, maxNorm?: number): void {
    const coef = FlatSgd.clipCoef(gradNorm, maxNorm);
    this.params.forEach((p, i) => {
      const n = numel(p.shape);
      if (grads[i]?.length !== n) throw new InternalError(`gradient of "${p.key}" has ${grads[i]?.length} values, the parameter ${n}`);
      const grp = optimizer.paramGroups[this.groupIndex[i]];
      const flags = (grp.weightDecay !== 0 ? WEIGHT_DECAY : 0) | (grp.momentum !== 0 ? MOMENTUM : 0) | (grp.nesterov ? NESTEROV : 0);
      const [wd, m, lr] = [fr(grp.weightDecay), fr(grp.momentum), fr(grp.lr)];
      if (this.kernel && this.scratch) {
        this.scratch.set(grads[i]);
        this.kernel.sgd(this.offsets[i] * 4, this.scratch.byteOffset, this.size * 4 + this.offsets[i] * 4, n, coef, wd, m, lr, flags);
      } else {
        sgdJs(this.weightViews[i], grads[i], this.momentumViews[i], coef, wd, m, lr, flags);
      }
      if (flags & MOMENTUM && optimizer.state.get(p)?.data !== this.momentumViews[i]) {
        optimizer.state.set(p, hostTensor('float32', p.shape, this.momentumViews[i]));
      }
    });
  }

  /** A clipped gradient (a copy) in parameter `i`'s shape, as the in-graph step outputs it with `outputGrads`. */
  clippedGrad(i: number, grad: Float32Array, gradNorm: number, maxNorm?: number): HostTensor<'float32'> {
    const coef = FlatSgd.clipCoef(gradNorm, maxNorm);
    return hostTensor('float32', this.params[i].shape, maxNorm === undefined ? grad.slice() : grad.map((v) => fr(v * coef)));
  }

  /**
   * `clip_grad_norm_`'s factor in float32 as the step graph computed it: `min(maxNorm / (norm + 1e-6), 1)`; 1 when
   * there is no clipping (a multiply by 1 changes no value).
   */
  static clipCoef(gradNorm: number, maxNorm?: number): number {
    if (maxNorm === undefined) return 1;
    return Math.min(fr(fr(maxNorm) / fr(fr(gradNorm) + fr(1e-6))), 1);
  }
}
