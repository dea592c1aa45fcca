/**
 * `tsm demo [--model M.onnx | --weights W.pth] [--input FILE|/dev/video0] [--json]`: live recognition as the
 * original `online_demo/main.py`: the online model runs one frame at a time, carrying its shift buffers, and the
 * smoothed label stream is printed with the per-frame latency.
 */
import type { Command } from 'commander';
import { findDefaultOnlineOnnx } from '../../deploy/default-model.js';
import { readLabelsFile } from '../../deploy/export.js';
import {
  DEFAULT_ONLINE_MODEL,
  type LivePrediction,
  findDefaultOnlineWeights,
  openFrameSource,
  openOnlineModel,
  recognizeFrames,
} from '../../deploy/live.js';
import { GENERIC_SMOOTHING, JESTER_SMOOTHING, type SmoothingRules, smoothingFor } from '../../deploy/smoothing.js';
import { UsageError } from '../../errors.js';
import { intFlag } from './model-flags.js';
import { type Device, parseDevice } from '../../runtime/index.js';
import { resolveCliWeights } from './weights.js';
import type { RegisterCommand } from './index.js';

/** Raw flag values as commander hands them over. */
export interface DemoFlags {
  readonly model?: string;
  readonly weights?: string;
  readonly input: string;
  readonly json?: boolean;
  readonly frameStride: string;
  readonly maxFrames?: string;
  readonly inputSize?: string;
  readonly labels?: string;
  readonly device: string;
  readonly threads: string;
  readonly cameraSize: string;
  readonly smoothing: string;
}

/** Parsed options of `tsm demo`. */
export interface DemoOptions {
  readonly model?: string;
  readonly weights?: string;
  readonly input: string;
  readonly json: boolean;
  readonly frameStride: number;
  readonly maxSteps?: number;
  readonly inputSize?: number;
  readonly labels?: string;
  readonly device: Device;
  readonly threads: number;
  readonly cameraSize: readonly [number, number];
  /** `auto` picks the Jester rules for the Jester labels. */
  readonly smoothing: 'auto' | 'jester' | 'generic' | 'none';
}

const SMOOTHING_CHOICES = ['auto', 'jester', 'generic', 'none'] as const;


/** Checks the flags; throws a {@link UsageError} naming the flag. */
export function parseDemoFlags(flags: DemoFlags): DemoOptions {
  if (flags.model !== undefined && flags.weights !== undefined) throw new UsageError('pass either --model FILE.onnx or --weights FILE.pth, not both');
  const size = /^(\d+)x(\d+)$/.exec(flags.cameraSize);
  if (!size) throw UsageError.expected('--camera-size', 'WIDTHxHEIGHT, e.g. 640x480', flags.cameraSize);
  if (!(SMOOTHING_CHOICES as readonly string[]).includes(flags.smoothing)) {
    throw UsageError.expected('--smoothing', `one of ${SMOOTHING_CHOICES.join(', ')}`, flags.smoothing);
  }
  return {
    model: flags.model,
    weights: flags.weights,
    input: flags.input,
    json: flags.json ?? false,
    frameStride: intFlag('--frame-stride', flags.frameStride, 1),
    maxSteps: flags.maxFrames === undefined ? undefined : intFlag('--max-frames', flags.maxFrames, 1),
    inputSize: flags.inputSize === undefined ? undefined : intFlag('--input-size', flags.inputSize, 1),
    labels: flags.labels,
    device: parseDevice(flags.device),
    threads: intFlag('--threads', flags.threads, 0),
    cameraSize: [Number(size[1]), Number(size[2])],
    smoothing: flags.smoothing as DemoOptions['smoothing'],
  };
}

function rulesFor(choice: DemoOptions['smoothing'], labels: readonly string[]): SmoothingRules {
  if (choice === 'jester') return JESTER_SMOOTHING;
  if (choice === 'generic') return GENERIC_SMOOTHING;
  if (choice === 'none') return { ...GENERIC_SMOOTHING, logitWindow: 1, refine: false };
  return smoothingFor(labels);
}

const percentile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** One text line per processed frame. */
const formatLine = (p: LivePrediction): string =>
  `frame ${String(p.frame).padStart(5)}  ${p.label.padEnd(30)}  top: ${p.top[0].label} ${(p.top[0].score * 100).toFixed(0)}%  this frame: ${p.rawLabel}  ${p.latencyMs.toFixed(1)} ms\n`;

/** Runs the demo; writes the label stream to stdout and notes and the summary to stderr. */
export async function runDemo(opts: DemoOptions, out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<void> {
  let weights = opts.weights;
  let modelFile = opts.model;
  // the model shipped in models/default/ first, then the Jester zoo model when it is downloaded
  const shipped = modelFile === undefined && weights === undefined ? findDefaultOnlineOnnx() : undefined;
  if (shipped !== undefined) {
    modelFile = shipped;
    err.write(`No model specified. Using the built-in default model ${shipped} (synthetic temporal-order task; --weights ${DEFAULT_ONLINE_MODEL} for Jester gestures)\n`);
  } else if (modelFile === undefined && weights === undefined) {
    weights = await findDefaultOnlineWeights();
    if (weights === undefined) {
      throw new UsageError(
        `no model given and the default model ${DEFAULT_ONLINE_MODEL} is not downloaded: pass --model FILE.onnx (tsm export --online), --weights FILE.pth, or --weights ${DEFAULT_ONLINE_MODEL} to download it`,
      );
    }
    err.write(`No model specified. Using default model ${DEFAULT_ONLINE_MODEL} (${weights})\n`);
  } else if (weights !== undefined) {
    weights = await resolveCliWeights(weights, err);
  }
  const labels = opts.labels === undefined ? undefined : await readLabelsFile(opts.labels);
  if (labels && modelFile !== undefined) err.write('note: --labels is ignored with --model: an exported model carries its own labels\n');
  const live = await openOnlineModel({ model: modelFile, weights, inputSize: opts.inputSize, labels, device: opts.device, threads: opts.threads });
  const ctrl = new AbortController();
  const onSigint = (): void => ctrl.abort();
  process.once('SIGINT', onSigint);
  const latencies: number[] = [];
  const model: number[] = [];
  try {
    const frames = openFrameSource(opts.input, { cameraSize: opts.cameraSize, signal: ctrl.signal });
    const rules = rulesFor(opts.smoothing, live.info.labels);
    for await (const p of recognizeFrames(frames, live, { frameStride: opts.frameStride, smoothing: rules, maxSteps: opts.maxSteps })) {
      latencies.push(p.latencyMs);
      model.push(p.modelMs);
      if (opts.json) {
        const round = (x: number) => Math.round(x * 1000) / 1000;
        out.write(`${JSON.stringify({ ...p, latencyMs: round(p.latencyMs), modelMs: round(p.modelMs), top: p.top.map((t) => ({ ...t, score: round(t.score) })) })}\n`);
      } else {
        out.write(formatLine(p));
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
    await live.release();
  }
  const sorted = [...latencies].sort((a, b) => a - b);
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  err.write(
    latencies.length === 0
      ? `no frames processed from ${opts.input}\n`
      : `${latencies.length} frames: ${mean(latencies).toFixed(1)} ms/frame (p50 ${percentile(sorted, 0.5).toFixed(1)}, p90 ${percentile(sorted, 0.9).toFixed(1)}; model ${mean(model).toFixed(1)} ms), ${(1000 / mean(latencies)).toFixed(1)} frames/s\n`,
  );
}

/** Registers `tsm demo`. */
export const registerDemo: RegisterCommand = (program: Command) => {
  program
    .command('demo')
    .description('Live action recognition with the online model over a video file or camera, one frame at a time; prints the smoothed labels and latency')
    .option('--model <file>', 'online model from tsm export --online (default: the one in models/default/)')
    .option('--weights <file>', `online checkpoint (.pth) or zoo name (default: ${DEFAULT_ONLINE_MODEL} when downloaded)`)
    .option('--input <source>', 'video file, or camera: /dev/videoN or v4l2:<device>', '/dev/video0')
    .option('--json', 'one JSON object per processed frame')
    .option('--frame-stride <n>', 'run every n-th frame (the original demo runs every 2nd)', '2')
    .option('--max-frames <n>', 'stop after n processed frames')
    .option('--input-size <n>', 'crop side when exporting --weights (default 224)')
    .option('--labels <file>', 'class names for --weights, one per line (default: Jester for 27 classes)')
    .option('--smoothing <rules>', `output smoothing: ${SMOOTHING_CHOICES.join(', ')} (auto: the original demo's Jester rules for Jester labels)`, 'auto')
    .option('--device <name>', 'cpu, cuda or auto', 'cpu')
    .option('--threads <n>', 'threads inside one op (0: onnxruntime decides)', '0')
    .option('--camera-size <WxH>', 'camera capture size', '640x480')
    .action(async (flags: DemoFlags) => {
      await runDemo(parseDemoFlags(flags));
    });
};
