/**
 * `tsm infer-online --weights FILE.pth --frames X.npy --output Y.npy`: runs the online (streaming) TSM-MobileNetV2
 * over consecutive frames, starting from zero shift buffers, and saves the per-frame logits.
 *
 * X is float32 `[S, 1, 3, H, W]` (normalized frames, as the online demo feeds them); Y is float32 `[S, num_class]`
 * with num_class from the checkpoint's classifier. The weights may be the online demo's state dict or a TSN
 * checkpoint of TSM-MobileNetV2 (which then runs with the online, uni-directional shift).
 */
import { resolveCliWeights } from './weights.js';
import type { Command } from 'commander';
import { readNpy, writeNpy } from '../../checkpoint/npy.js';
import { UsageError } from '../../errors.js';
import { intFlag } from './model-flags.js';
import { openOnlineModel } from '../../deploy/live.js';
import { loadOnlineMobileNetV2 } from '../../models/online.js';
import type { OnlineKeyLayout } from '../../models/online-mobilenet-v2.js';
import { type Device, parseDevice } from '../../runtime/index.js';
import { float32, toFloat32 } from '../../tensor/index.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { nonFiniteWarning } from './non-finite.js';

/** Parsed options of `tsm infer-online`. */
export interface InferOnlineOptions {
  readonly weights: string;
  readonly frames: string;
  readonly output: string;
  readonly device: Device;
  readonly threads: number;
  readonly widthMult: number;
}

/** Raw flag values as commander hands them over. */
interface InferOnlineFlags {
  readonly weights: string;
  readonly frames: string;
  readonly output: string;
  readonly device: string;
  readonly threads: string;
  readonly widthMult: string;
}

/** Checks the flags; throws a {@link UsageError} naming the flag. */
export function parseInferOnlineFlags(flags: InferOnlineFlags): InferOnlineOptions {
  const threads = intFlag('--threads', flags.threads, 0);
  const widthMult = Number(flags.widthMult);
  if (!(widthMult > 0)) throw UsageError.expected('--width-mult', 'a positive number', flags.widthMult);
  return { weights: flags.weights, frames: flags.frames, output: flags.output, device: parseDevice(flags.device), threads, widthMult };
}

/** What {@link inferOnline} did. */
export interface InferOnlineResult {
  /** `[S, num_class]` */
  readonly shape: readonly number[];
  /** Key layout of the weights: the online demo's, or an offline TSN checkpoint's. */
  readonly layout: OnlineKeyLayout;
}

/**
 * Runs the frames through the online model and writes the logits; NaN or infinite values in the frames or the
 * logits are reported through `onWarning`.
 * @throws {UsageError} when `--output` cannot be written (checked before any work) or the frames have a bad shape
 */
export async function inferOnline(opts: InferOnlineOptions, onWarning: (m: string) => void = () => {}): Promise<InferOnlineResult> {
  await checkOutputPath(opts.output, { kind: 'file', flag: '--output' });
  const frames = await readNpy(opts.frames);
  const s = frames.shape;
  if (s.length !== 5 || s[1] !== 1 || s[2] !== 3) {
    throw new UsageError(`--frames ${opts.frames} has shape [${s.join(',')}]; expected [S, 1, 3, H, W] (consecutive frames of one stream)`);
  }
  if (frames.dtype !== 'float32' && frames.dtype !== 'float64') {
    throw new UsageError(`--frames ${opts.frames} holds ${frames.dtype}; expected float32 normalized frames`);
  }
  const framesWarning = nonFiniteWarning(`--frames ${opts.frames}`, frames, 'frame');
  if (framesWarning) onWarning(framesWarning);
  const { model, layout } = await loadOnlineMobileNetV2(await resolveCliWeights(opts.weights), { widthMult: opts.widthMult });
  const live = await openOnlineModel({ network: model, inputSize: [s[3], s[4]], device: opts.device, threads: opts.threads });
  try {
    const per = 3 * s[3] * s[4];
    const data = toFloat32(frames).data;
    const logits = float32([s[0], model.numClasses]);
    for (let i = 0; i < s[0]; i++) logits.data.set(await live.stepper.step(data.slice(i * per, (i + 1) * per)), i * model.numClasses);
    // NOTE: a NaN frame also spoils every later step through the shift buffers
    const logitsWarning = nonFiniteWarning(`the logits written to ${opts.output}`, logits, 'frame');
    if (logitsWarning) onWarning(logitsWarning);
    await writeNpy(opts.output, logits);
    return { shape: logits.shape, layout };
  } finally {
    await live.release();
  }
}

/** Registers `tsm infer-online`. */
export const registerInferOnline: RegisterCommand = (program: Command) => {
  program
    .command('infer-online')
    .description('Run the online TSM-MobileNetV2 frame by frame (zero shift buffers at the start); save [S, num_class] logits')
    .requiredOption('--weights <file>', 'online MobileNetV2 state dict (.pth path, URL or zoo name), or a TSN TSM-MobileNetV2 checkpoint')
    .requiredOption('--frames <file>', 'float32 .npy of consecutive normalized frames [S, 1, 3, H, W]')
    .requiredOption('--output <file>', 'where to write the float32 logits .npy [S, num_class]')
    .option('--device <name>', 'cpu, cuda or auto', 'cpu')
    .option('--threads <n>', 'threads inside one op (0: onnxruntime decides)', '0')
    .option('--width-mult <x>', 'channel multiplier of the checkpoint', '1')
    .action(async (flags: InferOnlineFlags) => {
      const opts = parseInferOnlineFlags(flags);
      const { shape, layout } = await inferOnline(opts, (m) => process.stderr.write(`warning: ${m}\n`));
      if (layout === 'tsn') {
        process.stderr.write(
          'note: these are offline TSN TSM-MobileNetV2 weights (bi-directional shift); the online model shifts from the past only, so accuracy may differ\n',
        );
      }
      process.stdout.write(`wrote ${opts.output}: logits [${shape.join(', ')}]\n`);
    });
};
