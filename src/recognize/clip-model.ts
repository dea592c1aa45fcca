/**
 * A clip model held open on onnxruntime-node, with what it needs to see an input the way it was trained: its
 * exported clip graph (an `.onnx` from `tsm export`, or a checkpoint exported in memory) and that graph's
 * metadata (segments, crop size, mean/std, labels). Node only.
 */
import { stat } from 'node:fs/promises';
import { isHostTensor } from '../checkpoint/index.js';
import { type DeployInfo, parseDeployMetadata, readOnnxMetadata, softmax } from '../deploy/browser.js';
import { UsageError } from '../errors.js';
import { loadInputClip } from '../evaluate/predict.js';
import type { ModelInput } from '../evaluate/protocol.js';
import { MODALITIES, type Modality } from '../models/config.js';
import { type Device, type Session, createSession } from '../runtime/index.js';
import { type HostTensor, toFloat32 } from '../tensor/index.js';

/** What a recognizer takes: a video file, a folder of frames, or a preprocessed clip `[T, 3, H, W]` / `[1, T·3, H, W]`. */
export type RecognizerInput = string | HostTensor;

/** Where and how a session runs. */
export interface SessionSettings {
  readonly device: Device;
  readonly threads: number;
}

/** The sampling and normalisation an exported clip graph records, as `src/data` and `src/evaluate` take them. */
function modelInputOf(info: DeployInfo, meta: Readonly<Record<string, string>>, name: string): ModelInput {
  const [h, w] = info.inputSize;
  if (h !== w) throw new UsageError(`${name}: a clip model with a ${h}x${w} input is not supported; export it with a square input (tsm export --input-size)`);
  const modality = (meta.modality ?? 'RGB') as Modality;
  if (!Object.hasOwn(MODALITIES, modality)) throw UsageError.expected(`model metadata "modality" of ${name}`, `one of ${Object.keys(MODALITIES).join(', ')}`, modality);
  const newLength = Number(meta.new_length ?? 1);
  if (!Number.isInteger(newLength) || newLength < 1) throw UsageError.expected(`model metadata "new_length" of ${name}`, 'a positive integer', meta.new_length);
  return {
    numSegments: info.segments,
    newLength,
    modality,
    inputSize: h,
    // BNInception takes BGR in 0..255 (`Stack(roll=True)`, `ToTorchFormatTensor(div=False)`)
    normalize: { mean: info.mean, std: info.std, div: info.inputRange === 1, roll: info.arch === 'BNInception' },
  };
}

/**
 * An exported clip graph on an onnxruntime session, kept open between calls.
 * @example
 * const model = await ClipModel.open(bytes, 'clip.onnx', { device: 'cpu', threads: 0 });
 * const probs = await model.classify('video.mp4'); // softmax over the classes
 */
export class ClipModel {
  private constructor(
    /** File or model name, for messages. */
    readonly name: string,
    private readonly session: Session,
    /** What the graph's metadata says (labels, crop size, mean/std, segments). */
    readonly info: DeployInfo,
    /** Sampling and normalisation of its input. */
    readonly input: ModelInput,
  ) {}

  /**
   * Opens an exported clip graph.
   * @param labels class names that replace the graph's own
   * @throws {UsageError} when the graph is not a clip model, its metadata is malformed, or `labels` has the wrong count
   * @throws {RuntimeSessionError} when onnxruntime cannot load it
   */
  static async open(bytes: Uint8Array, name: string, settings: SessionSettings, labels?: readonly string[]): Promise<ClipModel> {
    const session = await createSession(bytes, { device: settings.device, threads: settings.threads, name });
    try {
      const meta = readOnnxMetadata(bytes);
      let info = parseDeployMetadata(meta, session);
      if (info.kind !== 'clip') throw new UsageError(`${name} is an ${info.kind} model, not a clip model`);
      if (labels !== undefined) {
        if (labels.length !== info.numClasses) {
          throw new UsageError(`got ${labels.length} labels for ${name}, which has ${info.numClasses} classes; pass one name per class, in class order`);
        }
        info = { ...info, labels, defaultLabels: false };
      }
      return new ClipModel(name, session, info, modelInputOf(info, meta, name));
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** `[1, T·C·L, H, W]`: the one clip the graph takes per run. */
  get inputShape(): readonly number[] {
    const { numSegments, newLength, modality, inputSize } = this.input;
    return [1, numSegments * newLength * (modality === 'Flow' ? 2 : 3), inputSize, inputSize];
  }

  /**
   * Class probabilities (softmax over the consensus output) of a video file, a frame folder, or a preprocessed
   * clip. A video or folder is sampled as `tsm test` samples one clip (segment centres, a centre crop of the
   * scaled frames) and normalised with the model's mean/std.
   * @throws {UsageError} for an input that does not exist or a tensor of the wrong shape
   * @throws {DataError} for a video or folder that cannot be decoded
   */
  async classify(input: RecognizerInput): Promise<Float64Array> {
    const clip = await this.toInput(input);
    const out = await this.session.run({ [this.info.inputName]: clip });
    const logits = out[this.info.outputName].data as Float32Array;
    const n = this.info.numClasses;
    // identity consensus gives one row per segment: average them, as test_models.py averages views
    const mean = new Float64Array(n);
    for (let i = 0; i < logits.length; i++) mean[i % n] += logits[i] / (logits.length / n);
    return softmax(mean);
  }

  /** Frees the session. */
  release(): Promise<void> {
    return this.session.release();
  }

  private async toInput(input: RecognizerInput): Promise<HostTensor<'float32'>> {
    const shape = this.inputShape;
    if (typeof input === 'string') {
      if (!(await stat(input).catch(() => undefined))) {
        throw new UsageError(`input ${input} does not exist; expected a video file, a folder of frames or a HostTensor ${JSON.stringify(shape)}`);
      }
      const { input: clip } = await loadInputClip(input, { input: this.input, protocol: { inputSize: this.input.inputSize } });
      return { dtype: 'float32', shape, data: clip.data };
    }
    if (!isHostTensor(input)) {
      throw UsageError.expected('input', `a video file path, a folder of frames or a HostTensor ${JSON.stringify(shape)}`, typeof input);
    }
    if (input.dtype !== 'float32' && input.dtype !== 'float64' && input.dtype !== 'float16') {
      throw new UsageError(`input tensor holds ${input.dtype}; expected float32 normalized frames`);
    }
    const [, c, h, w] = shape;
    const s = input.shape;
    const perFrame = c / this.input.numSegments;
    const framesFirst = s.length === 4 && s[0] * s[1] === c && s[1] === perFrame && s[2] === h && s[3] === w;
    const clipFirst = s.length === 4 && s[0] === 1 && s[1] === c && s[2] === h && s[3] === w;
    if (!framesFirst && !clipFirst) {
      throw new UsageError(
        `input tensor has shape [${s.join(',')}]; ${this.name} takes [${this.input.numSegments},${perFrame},${h},${w}] or [1,${c},${h},${w}] (${this.input.numSegments} frames, normalized, ${h}x${w} crops)`,
      );
    }
    return { dtype: 'float32', shape, data: toFloat32(input).data };
  }
}
