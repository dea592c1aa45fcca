/**
 * Exported models (`.onnx` from `tsm export`, in any precision) as `tsm test` and `tsm predict` models: the
 * metadata gives the sampling and normalisation, and the runner gives logits for `[B, T·3, H, W]` clips like the
 * checkpoint runner does. A clip model runs the clip as it is; an online step model steps through the clip's T
 * frames from zero shift buffers and averages the T logits, which is the avg consensus of the TSN trained with
 * the online shift (`tsm train --online-shift`) it was exported from. Node only.
 */
import { readFile } from 'node:fs/promises';
import { type DeployInfo, parseDeployMetadata } from '../deploy/metadata.js';
import { readOnnxMetadata } from '../deploy/onnx-metadata.js';
import { ShapeError, UsageError } from '../errors.js';
import { MODALITIES, type Modality } from '../models/config.js';
import { type Device, type Session, createSession } from '../runtime/index.js';
import { type HostTensor, float32, hostTensor, numel, toFloat32 } from '../tensor/index.js';
import type { ModelInput } from './protocol.js';

/** What test and predict run a model through. */
export interface ClipRunner {
  /** Logits `[B, num_class]` for clips `[B, T·C, H, W]`. */
  logits(input: HostTensor): Promise<HostTensor>;
  release(): Promise<void>;
}

/** Frames an online model steps through per clip when `--test-segments` is not given (every 2nd of 16). */
export const DEFAULT_ONLINE_TEST_SEGMENTS = 8;

/** An exported model read for testing. */
export interface OnnxTestModel {
  readonly info: DeployInfo;
  readonly input: ModelInput;
  readonly summary: string;
  open(opts: { readonly device?: Device; readonly threads?: number }): ClipRunner;
}

/**
 * Reads an exported `.onnx` as a test model. Node only.
 * @param testSegments frames per clip; must be the clip model's own, and sets the frames an online model steps
 *   through (@default 8 for online models)
 * @throws {UsageError} when the file cannot be read or has no usable metadata, or `testSegments` does not fit
 */
export async function loadOnnxTestModel(path: string, testSegments?: number): Promise<OnnxTestModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new UsageError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
  }
  const meta = readOnnxMetadata(bytes);
  const info = parseDeployMetadata(meta);
  const [h, w] = info.inputSize;
  if (h !== w) throw new UsageError(`${path}: a model with a ${h}x${w} input cannot be tested; export it with a square input (tsm export --input-size)`);
  const modality = (meta.modality ?? 'RGB') as Modality;
  if (!Object.hasOwn(MODALITIES, modality)) throw UsageError.expected(`model metadata "modality" of ${path}`, `one of ${Object.keys(MODALITIES).join(', ')}`, modality);
  const newLength = Number(meta.new_length ?? 1);
  let segments = info.segments;
  if (info.kind === 'online') segments = testSegments ?? DEFAULT_ONLINE_TEST_SEGMENTS;
  else if (testSegments !== undefined && testSegments !== info.segments) {
    throw new UsageError(`${path} is a clip model exported for ${info.segments} segments; testSegments: ${testSegments} needs a model exported with tsm export --segments ${testSegments}`, {
      options: ['testSegments'],
    });
  }
  const input: ModelInput = {
    numSegments: segments,
    newLength,
    modality,
    inputSize: h,
    // BNInception takes BGR in 0..255 (`Stack(roll=True)`, `ToTorchFormatTensor(div=False)`)
    normalize: { mean: info.mean, std: info.std, div: info.inputRange === 1, roll: info.arch === 'BNInception' },
  };
  const precision = info.precision ?? 'float32';
  const summary = `exported ${info.kind} model, ${info.arch}, ${info.kind === 'online' ? `online steps over ${segments} frames, avg` : `${segments} segments`}, ${precision}, ${info.numClasses} classes`;
  return {
    info,
    input,
    summary,
    open: (opts) => new OnnxClipRunner(bytes, path, info, input, opts.device ?? 'cpu', opts.threads ?? 0),
  };
}

/** Runs an exported model on clips; the session opens on the first call. */
class OnnxClipRunner implements ClipRunner {
  private session?: Promise<Session>;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly name: string,
    private readonly info: DeployInfo,
    private readonly input: ModelInput,
    private readonly device: Device,
    private readonly threads: number,
  ) {}

  async logits(clips: HostTensor): Promise<HostTensor> {
    const [h, w] = this.info.inputSize;
    const channels = this.input.numSegments * 3 * this.input.newLength;
    const s = clips.shape;
    if (s.length !== 4 || s[1] !== channels || s[2] !== h || s[3] !== w) {
      throw new ShapeError(`${this.name} takes clips [B, ${channels}, ${h}, ${w}], got [${s.join(',')}] (is inputSize the model's ${h}?)`, { options: ['inputSize'] });
    }
    this.session ??= createSession(this.bytes, { device: this.device, threads: this.threads, name: this.name });
    const session = await this.session;
    const x = toFloat32(clips);
    const per = numel(s.slice(1));
    const n = this.info.numClasses;
    const out = new Float32Array(s[0] * n);
    for (let b = 0; b < s[0]; b++) {
      const clip = x.data.subarray(b * per, (b + 1) * per);
      const row = this.info.kind === 'online' ? await this.stepClip(session, clip) : await this.runClip(session, clip);
      out.set(row, b * n);
    }
    return hostTensor('float32', [s[0], n], out);
  }

  private async runClip(session: Session, clip: Float32Array): Promise<Float32Array> {
    const [h, w] = this.info.inputSize;
    const res = await session.run({ [this.info.inputName]: float32([1, clip.length / (h * w), h, w], clip) }, [this.info.outputName]);
    return res[this.info.outputName].data as Float32Array;
  }

  private async stepClip(session: Session, clip: Float32Array): Promise<Float32Array> {
    const [h, w] = this.info.inputSize;
    const per = 3 * h * w;
    const frames = clip.length / per;
    const { bufferInputs, bufferOutputs, bufferShapes, outputName } = this.info;
    let buffers: HostTensor[] = bufferShapes.map((shape) => float32(shape));
    const sum = new Float64Array(this.info.numClasses);
    for (let t = 0; t < frames; t++) {
      const feeds: Record<string, HostTensor> = { [this.info.inputName]: float32([1, 3, h, w], clip.subarray(t * per, (t + 1) * per)) };
      bufferInputs.forEach((name, i) => (feeds[name] = buffers[i]));
      const res = await session.run(feeds);
      buffers = bufferOutputs.map((name) => res[name]);
      (res[outputName].data as Float32Array).forEach((v, i) => (sum[i] += v));
    }
    return Float32Array.from(sum, (v) => v / frames);
  }

  async release(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (s) await (await s).release();
  }
}
