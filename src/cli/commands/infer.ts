/**
 * `tsm infer --weights FILE.pth --input X.npy --output Y.npy [config flags]`: runs a TSN/TSM checkpoint on one
 * batch of clips. X is float32 `[B, T·C·L, H, W]` exactly as TSN.forward takes it; Y is float32 logits
 * `[B, num_class]`. Flags override what the file name says; with no flags a released `TSM_..._segment8_...pth`
 * name decides, then the checkpoint (`arch` field, state dict) and the input's channel count.
 */
import { resolveCliWeights } from './weights.js';
import type { Command } from 'commander';
import { readNpy, writeNpy } from '../../checkpoint/npy.js';
import { ShapeError, UsageError } from '../../errors.js';
import { type TsnOverrides, TsnRunner, loadTsnCheckpoint } from '../../models/load.js';
import { describeModel } from '../../evaluate/evaluate.js';
import { type Device, parseDevice } from '../../runtime/index.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { nonFiniteWarning } from './non-finite.js';
import { type RawFlags, addModelFlagAliases, addModelFlags, intFlag, parseModelFlags } from './model-flags.js';

/** Parsed options of `tsm infer`. */
export interface InferOptions {
  readonly weights: string;
  readonly input: string;
  readonly output: string;
  readonly overrides: TsnOverrides;
  readonly device: Device;
  readonly threads: number;
}

/** Raw flag values as commander hands them over (kebab-case flags and their snake_case aliases). */
type InferFlags = RawFlags;

/** Checks the flags; throws a {@link UsageError} naming the flag. */
export function parseInferFlags(f: InferFlags): InferOptions {
  const overrides = parseModelFlags(f);
  for (const req of ['weights', 'input', 'output'] as const) {
    if (typeof f[req] !== 'string') throw new UsageError(`missing --${req} <file>`);
  }
  return {
    weights: f.weights as string,
    input: f.input as string,
    output: f.output as string,
    overrides,
    device: parseDevice(typeof f.device === 'string' ? f.device : 'cpu'),
    threads: intFlag('--threads', typeof f.threads === 'string' ? f.threads : '0', 0),
  };
}

/** What {@link infer} did. */
export interface InferResult {
  /** Shape of the logits written. */
  readonly shape: readonly number[];
  /** One line describing the configuration that ran. */
  readonly summary: string;
}

/**
 * Runs the checkpoint on the input and writes the logits. NaN or infinite values in the input or the logits are
 * reported through `onWarning` (onnxruntime passes them through silently).
 * @throws {UsageError} when `--output` cannot be written (checked before any work)
 * @throws {ShapeError} when X is not `[B, T·C·L, H, W]` for the model
 */
export async function infer(opts: InferOptions, onNote: (m: string) => void = () => {}, onWarning: (m: string) => void = onNote): Promise<InferResult> {
  await checkOutputPath(opts.output, { kind: 'file', flag: '--output' });
  const x = await readNpy(opts.input);
  if (x.shape.length !== 4) {
    throw new ShapeError(`--input ${opts.input} has shape [${x.shape.join(',')}]; expected [B, T*C*L, H, W] (T segments of C=3 RGB / 2 Flow channels x new_length L)`);
  }
  if (!['float32', 'float64', 'float16'].includes(x.dtype)) throw new UsageError(`--input ${opts.input} holds ${x.dtype}; expected float32 normalized frames`);
  const inputWarning = nonFiniteWarning(`--input ${opts.input}`, x, 'clip');
  if (inputWarning) onWarning(inputWarning);
  // the model's shape errors describe the input but cannot name its file
  const namingInput = (err: unknown): never => {
    throw err instanceof ShapeError ? new ShapeError(`--input ${opts.input}: ${err.message}`, { cause: err, options: err.options }) : err;
  };
  const weights = await resolveCliWeights(opts.weights);
  const { model } = await loadTsnCheckpoint(weights, opts.overrides, { inputChannels: x.shape[1], onNote }).catch(namingInput);
  const runner = new TsnRunner(model, { device: opts.device, threads: opts.threads });
  try {
    const y = await runner.logits(x).catch(namingInput);
    const logitsWarning = nonFiniteWarning(`the logits written to ${opts.output}`, y, 'clip');
    if (logitsWarning) onWarning(logitsWarning);
    await writeNpy(opts.output, y);
    return { shape: y.shape, summary: describeModel(model) };
  } finally {
    await runner.release();
  }
}

/** Registers `tsm infer`. */
export const registerInfer: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('infer')
    .description('Run a TSN/TSM checkpoint on a clip batch X [B, T*C*L, H, W] (.npy); save logits [B, num_class] (.npy)')
    .requiredOption('--weights <file>', 'checkpoint (.pth path, URL or zoo name): a released TSM_<dataset>_<modality>_<arch>_..._segment<N>_... name configures itself')
    .requiredOption('--input <file>', 'float32 .npy [B, T*C*L, H, W], as TSN.forward takes it')
    .requiredOption('--output <file>', 'where to write the float32 logits .npy');
  addModelFlags(cmd)
    .option('--device <device>', 'cpu, cuda, ... (Node only)', 'cpu')
    .option('--threads <n>', 'onnxruntime threads (0 = its default)', '0');
  // the original scripts' snake_case spellings, hidden from help
  addModelFlagAliases(cmd);
  cmd.action(async (flags: InferFlags) => {
    const opts = parseInferFlags(flags);
    const res = await infer(opts, (m) => process.stderr.write(`note: ${m}\n`), (m) => process.stderr.write(`warning: ${m}\n`));
    process.stdout.write(`wrote ${opts.output} [${res.shape.join(',')}] (${res.summary})\n`);
  });
};
