/**
 * `tsm export --weights W.pth --out model.onnx [--online]`: writes the clip model (`[B, T·3, H, W]` -> logits) or
 * the online step model (frame + ten shift buffers in, logits + ten buffers out) as one self-contained ONNX file:
 * labels, input size, mean/std, segments and buffer shapes are in its metadata.
 */
import type { Command } from 'commander';
import { exportCheckpoint, readLabelsFile, type ExportCheckpointOptions } from '../../deploy/export.js';
import { UsageError } from '../../errors.js';
import { resolveDataset } from '../../data/dataset-config.js';
import { resolveCliWeights } from './weights.js';
import { addSnakeAliases } from './data-common.js';
import { checkOutputPath } from '../../util/output-path.js';
import type { RegisterCommand } from './index.js';
import { type RawFlags, addModelFlagAliases, addModelFlags, intFlag, parseModelFlags, strFlag } from './model-flags.js';
import { aliasOptions } from '../option-flags.js';

/** Raw flag values as commander hands them over (kebab-case flags and their hidden snake_case aliases). */
export type ExportFlags = RawFlags;

const positiveInt = (flag: string, v: string | undefined): number | undefined => (v === undefined ? undefined : intFlag(flag, v, 1));

/**
 * Checks the flags; throws a {@link UsageError} naming the flag. The TSN configuration flags (`--arch`,
 * `--segments`, `--shift-div`, ... and their snake_case aliases) are the ones `tsm infer` and `tsm test` take.
 * Reads the labels file or the dataset's categories.
 */
export async function parseExportFlags(f: ExportFlags): Promise<ExportCheckpointOptions> {
  for (const req of ['weights', 'out'] as const) if (typeof f[req] !== 'string') throw new UsageError(`missing --${req} <file>`);
  const labelsFile = strFlag(f, 'labels');
  const dataset = strFlag(f, 'dataset');
  if (labelsFile && dataset) throw new UsageError('pass either --labels FILE or --dataset NAME for the class names, not both');
  const overrides = parseModelFlags(f);
  let labels: readonly string[] | undefined;
  if (labelsFile) labels = await readLabelsFile(labelsFile);
  else if (dataset) {
    const ds = resolveDataset(dataset, overrides.modality ?? 'RGB', { rootPath: strFlag(f, 'rootPath') });
    labels = ds.categories.map((c, i) => c ?? `class ${i}`);
  }
  const wm = strFlag(f, 'widthMult');
  const widthMult = wm === undefined ? undefined : Number(wm);
  if (widthMult !== undefined && !(widthMult > 0)) throw UsageError.expected('--width-mult', 'a positive number', wm);
  const keepFloat = strFlag(f, 'keepFloat');
  return {
    weights: f.weights as string,
    out: f.out as string,
    online: f.online === true,
    // checked by exportCheckpoint, which names the valid values
    quantize: strFlag(f, 'quantize') as ExportCheckpointOptions['quantize'],
    calibration: strFlag(f, 'calibration'),
    calibrationClips: positiveInt('--calibration-clips', strFlag(f, 'calibrationClips')),
    calibrationMethod: strFlag(f, 'calibrationMethod') as ExportCheckpointOptions['calibrationMethod'],
    keepFloat: keepFloat === undefined ? undefined : (keepFloat.split(',').map((s) => s.trim()).filter(Boolean) as ExportCheckpointOptions['keepFloat']),
    threads: f.threads === undefined ? undefined : intFlag('--threads', strFlag(f, 'threads') as string, 0),
    inputSize: positiveInt('--input-size', strFlag(f, 'inputSize', 'input_size')),
    opset: positiveInt('--opset', strFlag(f, 'opset')),
    dynamicBatch: f.dynamicBatch === true,
    labels,
    overrides,
    widthMult,
  };
}

/** Registers `tsm export`. */
export const registerExport: RegisterCommand = (program: Command) => {
  const cmd = program
    .command('export')
    .description('Write a checkpoint as an ONNX model (clip model, or the online step model with --online), with labels, sizes and buffer shapes in its metadata')
    .requiredOption('--weights <file>', 'checkpoint (.pth) or zoo name; with --online: the online demo state dict or a TSM-MobileNetV2 checkpoint')
    .requiredOption('--out <file>', 'where to write the .onnx (written atomically)')
    .option('--online', 'export the online step model (frame + 10 shift buffers in, logits + 10 buffers out)')
    .option('--input-size <n>', 'crop side the model takes (default 224)')
    .option('--opset <n>', 'ONNX opset (13-21; 17 passes Debian onnx checker)', '17')
    .option('--dynamic-batch', 'symbolic batch dimension B (clip model; default: batch 1)')
    .option('--labels <file>', 'class names, one per line (default: the dataset categories, Jester for 27 classes, else "class i")')
    .option('--dataset <name>', 'take class names from this dataset\'s category file (needs --root-path or $TSM_DATA_ROOT)')
    .option('--root-path <dir>', 'dataset root for --dataset')
    .option('--width-mult <x>', 'channel multiplier of an online checkpoint (default 1)')
    .option('--quantize <precision>', 'write int8 (static QDQ, needs --calibration) or fp16 weights and activations; inputs and outputs stay float32. --weights may then be a float32 .onnx from tsm export')
    .option('--calibration <path>', 'int8: calibration clips: a dataset folder (tsm make-synthetic, make-lists; its training list), a folder of videos, or a folder of frame folders')
    .option('--calibration-clips <n>', 'int8: clips to calibrate on, spread over the set (default 32)')
    .option('--calibration-method <method>', 'int8: minmax, percentile or entropy (default minmax)')
    .option('--keep-float <layers>', 'int8: layers left in float32: first-conv, classifier (comma-separated; default none)')
    .option('--threads <n>', 'onnxruntime threads for calibration (0 = its default)');
  addModelFlags(cmd); // --arch, --num-class, --segments, --shift-div, ... (clip model)
  addModelFlagAliases(cmd);
  addSnakeAliases(cmd, ['input-size <n>']);
  // the quantiser's own options, which its errors name
  aliasOptions(cmd, { precision: '--quantize', method: '--calibration-method' });
  cmd.action(async (flags: ExportFlags) => {
    const opts = await parseExportFlags(flags);
    await checkOutputPath(opts.out, { kind: 'file', flag: '--out' });
    // a zoo name or URL is fetched into the cache first; a local path passes through
    const weights = await resolveCliWeights(opts.weights);
    // a terminal sees the count move; a log gets one line when calibration is done
    const onProgress =
      opts.quantize !== 'int8' ? undefined
      : process.stderr.isTTY ? (done: number, total: number) => void process.stderr.write(`\rcalibrating: ${done}/${total} clips${done === total ? '\n' : ''}`)
      : (done: number, total: number) => void (done === total && process.stderr.write(`calibrated on ${total} clips\n`));
    const r = await exportCheckpoint({ ...opts, weights, onNote: (n) => process.stderr.write(`note: ${n}\n`), onProgress });
    const i = r.info;
    const what = r.kind === 'online' ? `online step model, ${i.bufferInputs.length} shift buffers` : `clip model, ${i.segments} segments${i.dynamicBatch ? ', dynamic batch' : ''}`;
    const precision = i.precision === undefined || i.precision === 'float32' ? '' : `, ${i.precision}`;
    process.stdout.write(`wrote ${r.path} (${(r.bytes / 1e6).toFixed(1)} MB): ${i.arch} ${what}, ${i.numClasses} classes, input ${i.inputSize.join('x')}${precision}\n`);
  });
};
