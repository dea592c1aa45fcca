/**
 * Non-local blocks (embedded Gaussian), mirroring TSM's `ops/non_local.py` (from AlexHex7/Non-local_pytorch):
 * `NONLocalBlock3D`, the `NL3DWrapper` that runs one after a ResNet block, and `make_non_local`.
 */
import { ShapeError, UsageError } from '../errors.js';
import { type GraphBuilder, type Value, isStatic, shapeToString } from '../graph/index.js';
import { MaxPool, Module, Sequential } from '../nn/index.js';
import { BatchNorm3d, Conv3d } from '../nn/conv3d.js';
import { Bottleneck, type ResNet } from './resnet.js';

/** Options of {@link NonLocalBlock3D}. */
export interface NonLocalOptions {
  /** Width of g/theta/phi. @default inChannels // 2 (at least 1) */
  readonly interChannels?: number;
  /** Max-pool g and phi by (1, 2, 2). @default true */
  readonly subSample?: boolean;
  /** `W` is conv + BatchNorm3d (else a bare conv). @default true */
  readonly bnLayer?: boolean;
}

const conv1 = (cin: number, cout: number): Conv3d => new Conv3d(cin, cout, { kernelSize: 1 });

/**
 * Mirrors `ops/non_local.py` `NONLocalBlock3D` (`_NonLocalBlockND`, dimension 3) on [N, C, T, H, W]:
 * z = W(softmax(θ(x)ᵀ φ(x)) g(x)) + x. Keys in the original's registration order: `g.0.*` (conv; `g.1` is the
 * max-pool), `W.0.*` (conv), `W.1.*` (BatchNorm3d), `theta.*`, `phi.0.*`; without sub-sampling `g.*`/`phi.*`.
 */
export class NonLocalBlock3D extends Module {
  readonly g: Module;
  readonly W: Module;
  readonly theta: Conv3d;
  readonly phi: Module;
  readonly interChannels: number;

  constructor(
    readonly inChannels: number,
    opts: NonLocalOptions = {},
  ) {
    super();
    this.interChannels = opts.interChannels ?? Math.max(1, Math.floor(inChannels / 2));
    const ci = this.interChannels;
    const subSample = opts.subSample ?? true;
    // NOTE: the original registers g, W, theta, phi in this order, then re-assigns g and phi to
    // Sequential(conv, max-pool) in place, so the state-dict order is g, W, theta, phi.
    const pool = new MaxPool({ kernelSize: [1, 2, 2] });
    this.g = subSample ? new Sequential(conv1(inChannels, ci), pool) : conv1(inChannels, ci);
    this.W = (opts.bnLayer ?? true) ? new Sequential(conv1(ci, inChannels), new BatchNorm3d(inChannels)) : conv1(ci, inChannels);
    this.theta = conv1(inChannels, ci);
    this.phi = subSample ? new Sequential(conv1(inChannels, ci), pool) : conv1(inChannels, ci);
  }

  forward(g: GraphBuilder, x: Value): Value {
    const [, c, t, h, w] = x.shape;
    if (x.rank !== 5 || c !== this.inChannels || !isStatic(t) || !isStatic(h) || !isStatic(w)) {
      throw new ShapeError(`NONLocalBlock3D(${this.inChannels}): expected [N, ${this.inChannels}, T, H, W] with static T, H, W, got ${shapeToString(x.shape)}`);
    }
    const ci = this.interChannels;
    const flat = (v: Value) => g.reshape(v, [0, ci, -1]); // [N, Ci, THW]
    const gx = g.transpose(flat(this.g.call(g, x)), [0, 2, 1]); // [N, M, Ci]
    const thetaX = g.transpose(flat(this.theta.call(g, x)), [0, 2, 1]); // [N, L, Ci]
    const phiX = flat(this.phi.call(g, x)); // [N, Ci, M]
    const fDivC = g.softmax(g.matMul(thetaX, phiX), -1); // [N, L, M]
    const y = g.transpose(g.matMul(fDivC, gx), [0, 2, 1]); // [N, Ci, L]
    const wy = this.W.call(g, g.reshape(y, [-1, ci, t, h, w]));
    return g.add(wy, x);
  }
}

/**
 * Mirrors `ops/non_local.py` `NL3DWrapper`: runs `block`, then a non-local block over the clip's T frames.
 * Keys `block.*` (the wrapped ResNet block, e.g. `block.conv1.net.weight`) and `nl.*`.
 */
export class NL3DWrapper extends Module {
  readonly block: Module;
  readonly nl: NonLocalBlock3D;

  /** `block` is a Bottleneck, possibly inside a "block"-place TemporalShift; the NL width is its `bn3` width. */
  constructor(
    block: Module,
    readonly nSegment: number,
  ) {
    super();
    this.block = block;
    this.nl = new NonLocalBlock3D(bottleneckOf(block, 'the wrapped block').outChannels);
  }

  forward(g: GraphBuilder, x: Value): Value {
    const y = this.block.call(g, x);
    const [, c, h, w] = y.shape as number[];
    const y5 = g.transpose(g.reshape(y, [-1, this.nSegment, c, h, w]), [0, 2, 1, 3, 4]); // n, c, t, h, w
    const z = this.nl.call(g, y5);
    return g.reshape(g.transpose(z, [0, 2, 1, 3, 4]), [-1, c, h, w]);
  }
}

/** The Bottleneck inside a stage entry, looking through a "block"-place TemporalShift wrapper. */
function bottleneckOf(m: Module, where: string): Bottleneck {
  if (m instanceof Bottleneck) return m;
  const inner = (m as { net?: unknown }).net;
  if (inner instanceof Bottleneck) return inner;
  throw new UsageError(`non-local blocks need Bottleneck ResNet blocks (ResNet-50/101/152), but ${where} is a ${m.constructor.name}`);
}

/**
 * Mirrors `ops/non_local.py` `make_non_local`: layer2 becomes (NL(b0), b1, NL(b2), b3) and layer3 becomes
 * (NL(b0), b1, NL(b2), b3, NL(b4), b5).
 * NOTE: exactly as the original, layer2 keeps its first 4 blocks and layer3 its first 6, so deeper ResNets
 * (101/152) lose the rest of those stages.
 * @throws {UsageError} for BasicBlock ResNets (18/34), which the original cannot wrap either (no `bn3`)
 */
export function makeNonLocal(net: ResNet, nSegment: number): void {
  const stage = (m: Module, name: string, n: number): Module[] => {
    if (!(m instanceof Sequential) || m.length < n) {
      throw new UsageError(`non-local blocks need ${name} to have at least ${n} blocks (ResNet-50 layout), found ${m instanceof Sequential ? m.length : m.constructor.name}`);
    }
    return m.modules.slice(0, n);
  };
  const wrap = (blocks: Module[], name: string) =>
    new Sequential(
      ...blocks.map((b, i) => {
        if (i % 2 !== 0) return b;
        bottleneckOf(b, `${name}.${i}`); // a clear error before the wrapper's own check
        return new NL3DWrapper(b, nSegment);
      }),
    );
  const l2 = stage(net.layer2, 'layer2', 4);
  const l3 = stage(net.layer3, 'layer3', 6);
  net.layer2 = wrap(l2, 'layer2');
  net.layer3 = wrap(l3, 'layer3');
}
