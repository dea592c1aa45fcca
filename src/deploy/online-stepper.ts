/**
 * Runs an exported online model one frame at a time over any onnxruntime flavour (onnxruntime-node or
 * onnxruntime-web): the ten shift buffers a step returns are fed straight back as the next step's inputs, as
 * `buffer = outputs[1:]` in the original `online_demo/main.py`. Browser-safe: it sees onnxruntime only through
 * the small structural types below, so the web bundle does not pull in Node code.
 */
import { ShapeError, UsageError } from '../errors.js';
import type { DeployInfo } from './metadata.js';

/** The part of an onnxruntime `Tensor` the stepper uses. */
export interface OrtLikeTensor {
  readonly dims: readonly number[];
  /** CPU data; absent or throwing for GPU-resident tensors, which the stepper never reads. */
  readonly data: unknown;
  /** Frees GPU memory (onnxruntime-web); a no-op for CPU tensors. */
  dispose?(): void;
}

/** The part of an onnxruntime `InferenceSession` the stepper uses. */
export interface OrtLikeSession<T extends OrtLikeTensor> {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, T>): Promise<Record<string, T>>;
}

/** Makes a float32 tensor, e.g. `(data, dims) => new ort.Tensor('float32', data, dims)`. */
export type TensorFactory<T> = (data: Float32Array, dims: readonly number[]) => T;

/**
 * Holds the shift buffers of one stream.
 * @example
 * const stepper = new OnlineStepper(session, (d, s) => new ort.Tensor('float32', d, s), info);
 * const logits = await stepper.step(normalizeFrame(rgba, 224, 224, 4, info));
 */
export class OnlineStepper<T extends OrtLikeTensor> {
  private state: T[];
  private frames = 0;
  private queue: Promise<unknown> = Promise.resolve();

  /** @throws {UsageError} when the session's inputs/outputs do not match the model's metadata */
  constructor(
    private readonly session: OrtLikeSession<T>,
    private readonly makeTensor: TensorFactory<T>,
    /** What the model's metadata says (see {@link parseDeployMetadata}). */
    readonly info: DeployInfo,
  ) {
    if (info.kind !== 'online') throw new UsageError(`this is a ${info.kind} model; live recognition needs one exported with tsm export --online`);
    const inputs = [info.inputName, ...info.bufferInputs];
    const outputs = [info.outputName, ...info.bufferOutputs];
    const missingIn = inputs.filter((n) => !session.inputNames.includes(n));
    const missingOut = outputs.filter((n) => !session.outputNames.includes(n));
    if (missingIn.length > 0 || missingOut.length > 0) {
      throw new UsageError(
        `the model lacks input(s) [${missingIn.join(', ')}] / output(s) [${missingOut.join(', ')}] named in its metadata (it has inputs [${session.inputNames.join(', ')}], outputs [${session.outputNames.join(', ')}])`,
      );
    }
    if (info.bufferShapes.length !== info.bufferInputs.length) {
      throw new UsageError(`the model metadata has no buffer shapes ("buffer_shapes"); re-export it with tsm export --online`);
    }
    this.state = this.zeroBuffers();
  }

  /** The shift buffers the next step feeds (zeros after {@link OnlineStepper.reset}). */
  get buffers(): readonly T[] {
    return this.state;
  }

  /** Frames stepped since the last reset. */
  get steps(): number {
    return this.frames;
  }

  /** Elements of one frame (`3 * H * W`). */
  get frameSize(): number {
    return 3 * this.info.inputSize[0] * this.info.inputSize[1];
  }

  /**
   * Runs one normalized `[3, H, W]` frame; returns its logits (a copy, safe to keep). Calls made without awaiting
   * run one after another, in call order; each reads `frame` when its turn comes, so do not refill it before then.
   * @throws {ShapeError} when the frame has the wrong size
   */
  step(frame: Float32Array): Promise<Float32Array> {
    if (frame.length !== this.frameSize) {
      return Promise.reject(new ShapeError(`frame has ${frame.length} values, expected ${this.frameSize} (3x${this.info.inputSize.join('x')})`));
    }
    const run = this.queue.then(() => this.run(frame));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(frame: Float32Array): Promise<Float32Array> {
    const [h, w] = this.info.inputSize;
    const feeds: Record<string, T> = { [this.info.inputName]: this.makeTensor(frame, [1, 3, h, w]) };
    this.info.bufferInputs.forEach((n, i) => {
      feeds[n] = this.state[i];
    });
    const out = await this.session.run(feeds);
    const previous = this.state;
    this.state = this.info.bufferOutputs.map((n) => out[n]);
    for (const b of previous) b.dispose?.();
    this.frames += 1;
    const logits = out[this.info.outputName];
    const data = Float32Array.from(logits.data as Float32Array);
    logits.dispose?.();
    return data;
  }

  /** Zeroes the buffers (a new video). */
  reset(): void {
    for (const b of this.state) b.dispose?.();
    this.state = this.zeroBuffers();
    this.frames = 0;
  }

  private zeroBuffers(): T[] {
    return this.info.bufferShapes.map((s) => this.makeTensor(new Float32Array(s.reduce((a, d) => a * d, 1)), s));
  }
}
