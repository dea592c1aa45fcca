/**
 * Sessions over onnxruntime-node: create one from ONNX bytes, run it with host tensors in and out. Node only;
 * the browser uses the same graphs through onnxruntime-web (web/).
 */
import * as ort from 'onnxruntime-node';
import { RuntimeSessionError, ShapeError } from '../errors.js';
import { type DType, type HostTensor, hostTensor } from '../tensor/index.js';
import { type Device, executionProvidersFor } from './devices.js';

/** Options of {@link createSession}. Every field is optional. */
export interface SessionOptions {
  /** Where to run. @default 'cpu' */
  readonly device?: Device;
  /** CUDA device index. @default 0 */
  readonly deviceId?: number;
  /** Threads inside one op (`intraOpNumThreads`); 0 lets onnxruntime decide. @default 0 */
  readonly threads?: number;
  /** @default 'all' */
  readonly graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /** Name used in error messages (a file name or model name). */
  readonly name?: string;
  /** Passed straight through to onnxruntime (wins over the fields above). */
  readonly sessionOptions?: ort.InferenceSession.SessionOptions;
}

/** Feeds and fetches by graph value name. */
export type TensorMap = Readonly<Record<string, HostTensor>>;

/** Wraps a host tensor as an onnxruntime tensor (no copy). */
export function toOrtTensor(t: HostTensor): ort.Tensor {
  // NOTE: every DType name is also onnxruntime's name for that element type (float16 as raw Uint16 bits).
  return new ort.Tensor(t.dtype satisfies ort.Tensor.Type, t.data as ort.Tensor.DataType, t.shape as number[]);
}

/** Copies nothing: views an onnxruntime CPU tensor as a host tensor. */
export function fromOrtTensor(t: ort.Tensor): HostTensor {
  const dtype = t.type as DType;
  return hostTensor(dtype, t.dims, t.data as HostTensor['data']);
}

/** The execution providers this onnxruntime-node build supports (e.g. `['cpu']`, or with `cuda`). */
export function supportedBackends(): string[] {
  return ort.listSupportedBackends().map((b) => b.name);
}

/** A loaded model ready to run. */
export class Session {
  private constructor(
    private readonly inner: ort.InferenceSession,
    /** Name used in error messages. */
    readonly name: string,
    /** Execution providers the session was created with. */
    readonly executionProviders: readonly string[],
  ) {}

  /** Input value names, in graph order. */
  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  /** Output value names, in graph order. */
  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  /**
   * Creates a session from ONNX bytes or a file path.
   * @throws {RuntimeSessionError} when onnxruntime rejects the model (the cause is kept)
   */
  static async create(model: Uint8Array | string, opts: SessionOptions = {}): Promise<Session> {
    const name = opts.name ?? (typeof model === 'string' ? model : 'model.onnx');
    const eps = executionProvidersFor(opts.device ?? 'cpu', supportedBackends(), opts.deviceId);
    const so: ort.InferenceSession.SessionOptions = {
      executionProviders: eps as ort.InferenceSession.ExecutionProviderConfig[],
      graphOptimizationLevel: opts.graphOptimizationLevel ?? 'all',
      intraOpNumThreads: opts.threads ?? 0,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      ...opts.sessionOptions,
    };
    try {
      const inner = typeof model === 'string' ? await ort.InferenceSession.create(model, so) : await ort.InferenceSession.create(model, so);
      return new Session(inner, name, eps.map((e) => (typeof e === 'string' ? e : e.name)));
    } catch (cause) {
      throw new RuntimeSessionError(`onnxruntime could not load ${name}: ${(cause as Error).message}`, { cause });
    }
  }

  /**
   * Runs the model. Missing feeds are reported by name before onnxruntime sees them.
   * @param fetches output names to compute (default: all outputs)
   */
  async run(feeds: TensorMap, fetches?: readonly string[]): Promise<Record<string, HostTensor>> {
    const missing = this.inner.inputNames.filter((n) => !(n in feeds));
    if (missing.length > 0) {
      throw new ShapeError(`${this.name}: missing input(s) ${missing.join(', ')} (expects ${this.inner.inputNames.join(', ')})`);
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const n of this.inner.inputNames) ortFeeds[n] = toOrtTensor(feeds[n]);
    let out: ort.InferenceSession.ReturnType;
    try {
      out = fetches ? await this.inner.run(ortFeeds, fetches as string[]) : await this.inner.run(ortFeeds);
    } catch (cause) {
      throw new RuntimeSessionError(`session.run failed for ${this.name}: ${(cause as Error).message}`, { cause });
    }
    const res: Record<string, HostTensor> = {};
    for (const [k, v] of Object.entries(out)) res[k] = fromOrtTensor(v);
    return res;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.inner.release();
  }
}

/** Shorthand for {@link Session.create}. */
export const createSession = (model: Uint8Array | string, opts?: SessionOptions): Promise<Session> => Session.create(model, opts);
