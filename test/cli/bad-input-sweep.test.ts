/**
 * The bad-input rule, swept over every `tsm` verb: a table of bad inputs (missing, empty and corrupt checkpoints,
 * files that are not ONNX, not npy or not a video, wrong shapes and dtypes, broken list lines, empty frame
 * folders, unknown flag values, output paths that are folders or lie inside files) is run through the real CLI
 * (`node bin/tsm.js ...`, as a user would). Each case must:
 * - exit 1, or 2 for a usage error (a flag's value);
 * - print exactly one line starting with `error `, and it is `error TSM_...` naming the file, flag or value;
 * - print no JavaScript stack trace;
 * - leave nothing (no output file, no temporary file) in its own folder, where its outputs would go, and nothing
 *   next to the shared inputs;
 * - end within HANG_MS (a process still running then is killed and the case fails).
 * NaN in `tsm infer`'s input is the one case that exits 0: it runs, warns and writes.
 *
 * main.ts runs the program on import (it has no function taking argv and streams), so every case is a process;
 * two run at a time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { encodeNpy } from '../../src/checkpoint/npy.js';
import { ZipReader, encodeZip } from '../../src/checkpoint/zip.js';
import { makeSyntheticDataset } from '../../src/data/index.js';
import { type DType, type HostTensor, hostTensor } from '../../src/tensor/index.js';
import { makeRng } from '../helpers/rng.js';

const repo = resolve(import.meta.dirname, '..', '..');
const TSM = join(repo, 'bin', 'tsm.js');
/** Far above any clean failure here (a few seconds of tsx start-up and a small model), so only a hang reaches it. */
const HANG_MS = 60_000;
const DEFAULT_DIR = join(repo, 'models', 'default');
const DEFAULT_STEM = 'TSM_synthetic_RGB_mobilenetv2_shift8_blockres_avg_segment4_e36';

interface Outcome {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly hung: boolean;
}

/** Runs `node bin/tsm.js ...args` in `cwd`; kills it and reports `hung` when it outlives HANG_MS. */
function tsm(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [TSM, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, HANG_MS);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      done({ status, signal, stdout, stderr, hung });
    });
  });
}

/** Every file and folder under `root`, as sorted relative paths (folders end in `/`). */
function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        out.push(`${relative(root, p)}/`);
        walk(p);
      } else out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

let dir = '';
/** Shared inputs, read by every case and written by none. */
let inp = '';
/** Everything under `inp` once the inputs are made. */
let inputsTree: string[] = [];
const IN = (name: string): string => join(inp, name);

/** A random float32 tensor. */
function randn(shape: readonly number[], seed: number): HostTensor<'float32'> {
  const rng = makeRng(seed);
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = rng.normal();
  return hostTensor('float32', shape, data);
}

function npy<D extends DType>(name: string, t: HostTensor<D>): void {
  writeFileSync(IN(name), encodeNpy(t));
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tsm-bad-input-'));
  inp = join(dir, 'in');
  mkdirSync(inp);
  const pthBytes = readFileSync(join(DEFAULT_DIR, `${DEFAULT_STEM}.pth`));
  const onnxBytes = readFileSync(join(DEFAULT_DIR, `${DEFAULT_STEM}.onnx`));
  const rng = makeRng(14);

  // checkpoints: empty, random bytes, truncated at three depths (inside the first header, inside the tensor data,
  // inside the central directory), one tensor byte flipped (CRC mismatch), a pickle that calls os.system
  writeFileSync(IN('empty.pth'), '');
  writeFileSync(IN('random.pth'), Uint8Array.from({ length: 65536 }, () => rng.int(256)));
  writeFileSync(IN('cut-at-40.pth'), pthBytes.subarray(0, 40));
  writeFileSync(IN('cut-in-half.pth'), pthBytes.subarray(0, pthBytes.length >> 1));
  writeFileSync(IN('cut-before-end.pth'), pthBytes.subarray(0, pthBytes.length - 100));
  const zip = new ZipReader(pthBytes, 'default.pth');
  const records = [...zip.entries.keys()].map((name) => ({ name, data: zip.read(name) }));
  const crc = Buffer.from(encodeZip(records));
  const big = records.reduce((a, r) => (r.data.length > a.data.length ? r : a));
  const at = crc.indexOf(Buffer.from(big.data.subarray(0, 64))) + (big.data.length >> 1);
  crc[at] ^= 0x5a;
  writeFileSync(IN('bad-crc.pth'), crc);
  const evil = records.map((r) => {
    if (!r.name.endsWith('/data.pkl')) return r;
    const p = Buffer.from(r.data);
    const from = Buffer.from('collections\nOrderedDict\n');
    const i = p.indexOf(from);
    assert.ok(i >= 0, 'the pickle of the default model names collections.OrderedDict');
    return { name: r.name, data: Buffer.concat([p.subarray(0, i), Buffer.from('posix\nsystem\n'), p.subarray(i + from.length)]) };
  });
  writeFileSync(IN('evil-global.pth'), encodeZip(evil));

  // ONNX: not ONNX at all, and the default clip model cut in half
  writeFileSync(IN('not-onnx.onnx'), 'this is not an ONNX model\n');
  writeFileSync(IN('cut.onnx'), onnxBytes.subarray(0, onnxBytes.length >> 1));

  // clip batches for the default model ([B, T*3, 64, 64] with T = 4), and broken ones
  npy('clip.npy', randn([1, 12, 64, 64], 1));
  const nan = randn([1, 12, 64, 64], 2);
  nan.data[5] = Number.NaN;
  nan.data[77] = Number.POSITIVE_INFINITY;
  npy('nan.npy', nan);
  npy('rank3.npy', randn([12, 64, 64], 3));
  npy('eleven-channels.npy', randn([1, 11, 64, 64], 4));
  npy('int32.npy', hostTensor('int32', [1, 12, 64, 64], new Int32Array(12 * 64 * 64)));
  npy('frames-rank3.npy', randn([2, 64, 64], 5));
  npy('frames.npy', randn([2, 1, 3, 64, 64], 6));
  writeFileSync(IN('text.npy'), 'not a numpy file\n');
  const clip = readFileSync(IN('clip.npy'));
  writeFileSync(IN('cut.npy'), clip.subarray(0, clip.length >> 1));

  // a video that is not one, an empty frame folder, a file where a folder goes, a folder where a file goes
  writeFileSync(IN('not-a-video.mp4'), 'plain text, no video stream\n');
  mkdirSync(IN('empty-frames'));
  mkdirSync(IN('a-folder'));
  writeFileSync(IN('a-file'), 'a file\n');
  writeFileSync(IN('not-json.json'), '{ "this is": not json\n');
  writeFileSync(IN('classInd.txt'), '1 ApplyEyeMakeup\ntwo ApplyLipstick\n');
  writeFileSync(IN('three-labels.txt'), 'one\ntwo\nthree\n');

  // a dataset the default model fits (8 classes, 64 px), and list files with one bad line each
  await makeSyntheticDataset(IN('syn'), { clips: 1, size: 64, frames: 8, valFraction: 0, seed: 5 });
  mkdirSync(join(inp, 'syn', 'frames', 'right', 'no_frames'));
  const lists: Record<string, string> = {
    'list-good.txt': 'right/right_00000 8 0\nleft/left_00000 8 1\n',
    'list-two-fields.txt': 'right/right_00000 8 0\nleft/left_00000 8\n',
    'list-bad-count.txt': 'right/right_00000 8 0\nleft/left_00000 eight 1\n',
    'list-negative-label.txt': 'right/right_00000 8 0\nleft/left_00000 8 -1\n',
    'list-label-8.txt': 'right/right_00000 8 0\nleft/left_00000 8 8\n',
    'list-empty-folder.txt': 'right/right_00000 8 0\nright/no_frames 8 0\n',
    'list-missing-folder.txt': 'right/right_00000 8 0\nright/not_there 8 0\n',
  };
  for (const [name, text] of Object.entries(lists)) writeFileSync(IN(name), text);
  inputsTree = tree(inp);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Text the message must contain, or a pattern it must match. */
type Text = string | RegExp;

interface Case {
  /** What is bad, for the test name. */
  readonly what: string;
  /** The command line; `out` is the case's own (empty) folder, where its outputs go. */
  readonly args: (out: string) => readonly string[];
  /** 2 for a usage error, 1 for a failure; both when either reading is fair (a flag naming a missing file). */
  readonly exit: 1 | 2 | 'either';
  /** What the error line names: the file (by its base name), the flag or the value. */
  readonly names: readonly Text[];
}

const W = (): string => join(DEFAULT_DIR, `${DEFAULT_STEM}.pth`);
/** `tsm infer` of the default model on `input`, writing `out/y.npy`; `extra` flags replace or add. */
const infer = (weights: string, input: string, ...extra: string[]) => (out: string) =>
  ['infer', '--weights', weights, '--input', input, '--output', join(out, 'y.npy'), '--threads', '1', ...extra];
const syn = (): string => IN('syn');
const testVerb = (...extra: string[]) => (out: string) =>
  ['test', syn(), '--weights', W(), '-j', '0', '--threads', '1', '--output', join(out, 'results'), ...extra];
const predict = (...extra: string[]) => (out: string) => ['predict', ...extra, '--weights', W(), '--threads', '1'];
const exportVerb = (...extra: string[]) => (out: string) => ['export', '--out', join(out, 'm.onnx'), ...extra];

const CASES: readonly Case[] = [
  // tsm infer: every kind of broken checkpoint
  { what: 'infer: a --weights file that does not exist', args: (o) => infer(IN('missing.pth'), IN('clip.npy'))(o), exit: 'either', names: ['missing.pth'] },
  { what: 'infer: an empty checkpoint', args: (o) => infer(IN('empty.pth'), IN('clip.npy'))(o), exit: 1, names: ['empty.pth'] },
  { what: 'infer: a checkpoint of random bytes', args: (o) => infer(IN('random.pth'), IN('clip.npy'))(o), exit: 1, names: ['random.pth'] },
  { what: 'infer: a checkpoint cut inside its first header', args: (o) => infer(IN('cut-at-40.pth'), IN('clip.npy'))(o), exit: 1, names: ['cut-at-40.pth'] },
  { what: 'infer: a checkpoint cut in half', args: (o) => infer(IN('cut-in-half.pth'), IN('clip.npy'))(o), exit: 1, names: ['cut-in-half.pth'] },
  { what: 'infer: a checkpoint cut 100 bytes before its end', args: (o) => infer(IN('cut-before-end.pth'), IN('clip.npy'))(o), exit: 1, names: ['cut-before-end.pth'] },
  { what: 'infer: a checkpoint whose zip CRC does not match', args: (o) => infer(IN('bad-crc.pth'), IN('clip.npy'))(o), exit: 1, names: ['bad-crc.pth', /CRC/i] },
  { what: 'infer: a checkpoint whose pickle calls posix.system', args: (o) => infer(IN('evil-global.pth'), IN('clip.npy'))(o), exit: 1, names: ['evil-global.pth', 'posix.system'] },
  { what: 'infer: a MobileNetV2 checkpoint run as --arch resnet18', args: (o) => infer(W(), IN('clip.npy'), '--arch', 'resnet18')(o), exit: 1, names: [DEFAULT_STEM, /resnet18/] },
  { what: 'infer: an unknown --arch', args: (o) => infer(W(), IN('clip.npy'), '--arch', 'resnet51')(o), exit: 2, names: ['resnet51'] },
  { what: 'infer: --segments 5 for an input of 4 segments', args: (o) => infer(W(), IN('clip.npy'), '--segments', '5')(o), exit: 'either', names: ['clip.npy', '5 segments'] },
  { what: 'infer: --num-class other than the checkpoint\'s', args: (o) => infer(W(), IN('clip.npy'), '--num-class', '5')(o), exit: 1, names: [/--num-class|5 classes/, DEFAULT_STEM] },
  { what: 'infer: an --input file that does not exist', args: (o) => infer(W(), IN('missing.npy'))(o), exit: 'either', names: ['missing.npy'] },
  { what: 'infer: an --input that is not npy', args: (o) => infer(W(), IN('text.npy'))(o), exit: 1, names: ['text.npy'] },
  { what: 'infer: an --input npy cut in half', args: (o) => infer(W(), IN('cut.npy'))(o), exit: 1, names: ['cut.npy'] },
  { what: 'infer: an --input of rank 3', args: (o) => infer(W(), IN('rank3.npy'))(o), exit: 1, names: ['rank3.npy', '12,64,64'] },
  { what: 'infer: an --input with 11 channels', args: (o) => infer(W(), IN('eleven-channels.npy'))(o), exit: 'either', names: ['eleven-channels.npy', '11'] },
  { what: 'infer: an int32 --input', args: (o) => infer(W(), IN('int32.npy'))(o), exit: 'either', names: ['int32.npy', 'int32'] },
  { what: 'infer: --device foo', args: (o) => infer(W(), IN('clip.npy'), '--device', 'foo')(o), exit: 2, names: ['device: foo'] },
  { what: 'infer: --output is a folder', args: (o) => infer(W(), IN('clip.npy'), '--output', o)(o), exit: 2, names: ['--output', 'is a folder'] },
  { what: 'infer: --output lies inside a file', args: (o) => infer(W(), IN('clip.npy'), '--output', join(IN('a-file'), 'y.npy'))(o), exit: 2, names: ['--output', 'a-file'] },

  { what: 'infer: no --weights (a required flag left out)', args: (o) => ['infer', '--input', IN('clip.npy'), '--output', join(o, 'y.npy')], exit: 2, names: ['--weights'] },
  { what: 'infer: an unknown flag', args: (o) => [...infer(W(), IN('clip.npy'))(o), '--frobnicate'], exit: 2, names: ['--frobnicate'] },

  // tsm infer-online
  { what: 'infer-online: --frames of rank 3', args: (o) => ['infer-online', '--weights', W(), '--width-mult', '0.5', '--frames', IN('frames-rank3.npy'), '--output', join(o, 'y.npy')], exit: 'either', names: ['frames-rank3.npy'] },
  { what: 'infer-online: a checkpoint cut in half', args: (o) => ['infer-online', '--weights', IN('cut-in-half.pth'), '--frames', IN('frames.npy'), '--output', join(o, 'y.npy')], exit: 1, names: ['cut-in-half.pth'] },

  // tsm train
  { what: 'train: an unknown --arch', args: (o) => ['train', syn(), 'RGB', '--arch', 'resnet51', '--root-log', join(o, 'log'), '--root-model', join(o, 'ck')], exit: 2, names: ['resnet51'] },
  { what: 'train: modality Depth', args: (o) => ['train', syn(), 'Depth', '--arch', 'mobilenetv2', '--root-log', join(o, 'log'), '--root-model', join(o, 'ck')], exit: 2, names: ['Depth'] },
  {
    what: 'train: a list line with a non-integer frame count',
    args: (o) => ['train', syn(), 'RGB', '--arch', 'mobilenetv2', '--pretrain', 'scratch', '--num-segments', '2', '--input-size', '64', '-b', '1', '--epochs', '1', '-j', '1',
      '--train-list', IN('list-bad-count.txt'), '--val-list', IN('list-good.txt'), '--root-log', join(o, 'log'), '--root-model', join(o, 'ck')],
    exit: 1, names: ['list-bad-count.txt:2', 'eight'],
  },
  {
    what: 'train: --resume of a checkpoint of random bytes',
    args: (o) => ['train', syn(), 'RGB', '--arch', 'mobilenetv2', '--pretrain', 'scratch', '--num-segments', '2', '--input-size', '64', '-b', '1', '--epochs', '1', '-j', '0',
      '--resume', IN('random.pth'), '--root-log', join(o, 'log'), '--root-model', join(o, 'ck')],
    exit: 1, names: ['random.pth'],
  },

  {
    what: 'train: --resume of a MobileNetV2 checkpoint into a ResNet-18',
    args: (o) => ['train', syn(), 'RGB', '--arch', 'resnet18', '--pretrain', 'scratch', '--num-segments', '2', '--input-size', '64', '-b', '1', '--epochs', '1', '-j', '0',
      '--resume', W(), '--root-log', join(o, 'log'), '--root-model', join(o, 'ck')],
    exit: 1, names: [DEFAULT_STEM],
  },
  { what: 'train: no modality (a required argument left out)', args: () => ['train', syn()], exit: 2, names: ['modality'] },

  // tsm test: list files with one bad line, frame folders that are empty or missing, flag values
  { what: 'test: a list line with two fields', args: testVerb('--test-list', IN('list-two-fields.txt')), exit: 1, names: ['list-two-fields.txt:2'] },
  { what: 'test: a list line with a non-integer frame count', args: testVerb('--test-list', IN('list-bad-count.txt')), exit: 1, names: ['list-bad-count.txt:2', 'eight'] },
  { what: 'test: a list line with label -1', args: testVerb('--test-list', IN('list-negative-label.txt')), exit: 1, names: ['list-negative-label.txt:2', '-1'] },
  { what: 'test: a list line with label 8 for 8 classes', args: testVerb('--test-list', IN('list-label-8.txt')), exit: 1, names: ['list-label-8.txt:2', '8'] },
  { what: 'test: an empty frame folder', args: testVerb('--test-list', IN('list-empty-folder.txt')), exit: 1, names: ['no_frames'] },
  { what: 'test: a missing frame folder', args: testVerb('--test-list', IN('list-missing-folder.txt')), exit: 1, names: ['not_there'] },
  { what: 'test: --test-crops 4', args: testVerb('--test-crops', '4'), exit: 2, names: ['--test-crops', '4'] },
  { what: 'test: --test-segments abc', args: testVerb('--test-segments', 'abc'), exit: 2, names: ['--test-segments', 'abc'] },
  { what: 'test: a dataset folder that does not exist', args: (o) => ['test', IN('no-such-dataset'), '--weights', W(), '--output', join(o, 'results')], exit: 'either', names: ['no-such-dataset'] },

  // tsm predict
  { what: 'predict: a video that is not a video', args: predict(IN('not-a-video.mp4')), exit: 1, names: ['not-a-video.mp4'] },
  { what: 'predict: an empty frame folder', args: predict(IN('empty-frames')), exit: 1, names: ['empty-frames'] },
  { what: 'predict: an input that does not exist', args: predict(IN('missing.mp4')), exit: 'either', names: ['missing.mp4'] },
  { what: 'predict: a checkpoint with a bad CRC', args: (o) => ['predict', IN('empty-frames'), '--weights', IN('bad-crc.pth')], exit: 1, names: ['bad-crc.pth'] },
  { what: 'predict: --test-crops 4', args: predict(IN('empty-frames'), '--test-crops', '4'), exit: 2, names: ['--test-crops', '4'] },
  { what: 'predict: --labels with 3 names for 8 classes', args: predict(join(syn(), 'frames', 'right', 'right_00000'), '--labels', IN('three-labels.txt')), exit: 'either', names: ['three-labels.txt', '3 labels'] },
  { what: 'predict: --output is a file', args: (o) => ['predict', join(syn(), 'frames', 'right', 'right_00000'), '--weights', W(), '--output', IN('a-file')], exit: 2, names: ['--output', 'a-file'] },

  // tsm export
  { what: 'export: a checkpoint with a disallowed global', args: exportVerb('--weights', IN('evil-global.pth')), exit: 1, names: ['evil-global.pth', 'posix.system'] },
  { what: 'export: --opset 5', args: exportVerb('--weights', W(), '--opset', '5'), exit: 2, names: ['--opset', '5'] },
  { what: 'export: --quantize int4', args: exportVerb('--weights', W(), '--quantize', 'int4'), exit: 2, names: ['--quantize', 'int4'] },
  { what: 'export: --quantize fp16 of a .onnx that is not ONNX', args: exportVerb('--weights', IN('not-onnx.onnx'), '--quantize', 'fp16'), exit: 'either', names: ['not-onnx.onnx'] },
  { what: 'export: --quantize fp16 of a truncated .onnx', args: exportVerb('--weights', IN('cut.onnx'), '--quantize', 'fp16'), exit: 'either', names: ['cut.onnx'] },
  { what: 'export: --out is a folder', args: (o) => ['export', '--weights', W(), '--out', o], exit: 2, names: ['--out', 'is a folder'] },

  // tsm demo
  { what: 'demo: a --model that is not ONNX', args: () => ['demo', '--model', IN('not-onnx.onnx'), '--input', IN('not-a-video.mp4')], exit: 1, names: ['not-onnx.onnx'] },
  { what: 'demo: a truncated --model', args: () => ['demo', '--model', IN('cut.onnx'), '--input', IN('not-a-video.mp4')], exit: 1, names: ['cut.onnx'] },
  { what: 'demo: an --input that is not a video', args: () => ['demo', '--input', IN('not-a-video.mp4'), '--max-frames', '2'], exit: 1, names: ['not-a-video.mp4'] },
  { what: 'demo: --weights of random bytes', args: () => ['demo', '--weights', IN('random.pth'), '--input', IN('not-a-video.mp4')], exit: 1, names: ['random.pth'] },
  { what: 'demo: --smoothing foo', args: () => ['demo', '--input', IN('not-a-video.mp4'), '--smoothing', 'foo'], exit: 2, names: ['--smoothing', 'foo'] },

  // tsm extract-frames, make-lists, make-synthetic
  { what: 'extract-frames: a video that is not a video', args: (o) => ['extract-frames', IN('not-a-video.mp4'), join(o, 'frames'), '--jobs', '1'], exit: 1, names: ['not-a-video.mp4'] },
  { what: 'extract-frames: videos that do not exist', args: (o) => ['extract-frames', IN('no-videos-here'), join(o, 'frames')], exit: 'either', names: ['no-videos-here'] },
  { what: 'extract-frames: --quality 40', args: (o) => ['extract-frames', IN('not-a-video.mp4'), join(o, 'frames'), '--quality', '40'], exit: 2, names: ['--quality', '40'] },
  { what: 'extract-frames: a --tmpl without a frame number', args: (o) => ['extract-frames', IN('not-a-video.mp4'), join(o, 'frames'), '--tmpl', 'frame.jpg'], exit: 2, names: ['frame.jpg'] },
  { what: 'make-lists: an unknown format', args: (o) => ['make-lists', 'youtube8m', '--frames', IN('a-folder'), '--out', o], exit: 2, names: ['youtube8m'] },
  { what: 'make-lists: a classInd.txt with a non-integer index', args: (o) => ['make-lists', 'ucf101', '--frames', IN('a-folder'), '--labels', IN('classInd.txt'), '--train', IN('classInd.txt'), '--val', IN('classInd.txt'), '--out', o], exit: 1, names: ['classInd.txt'] },
  { what: 'make-lists: a --frames folder that does not exist', args: (o) => ['make-lists', 'folders', '--frames', IN('no-frames-root'), '--out', o], exit: 'either', names: ['no-frames-root'] },
  { what: 'make-synthetic: an unknown class', args: (o) => ['make-synthetic', join(o, 'syn'), '--classes', 'right,sideways', '--clips', '1'], exit: 2, names: ['sideways'] },
  { what: 'make-synthetic: --clips -1', args: (o) => ['make-synthetic', join(o, 'syn'), '--clips', '-1'], exit: 2, names: ['--clips', '-1'] },

  // tsm zoo, inspect-checkpoint, merge-scores, start
  { what: 'zoo download: an unknown model name', args: (o) => ['zoo', 'download', 'TSM_nothing_like_this', '--cache-dir', join(o, 'cache')], exit: 2, names: ['TSM_nothing_like_this'] },
  { what: 'zoo: --cache-dir is a file', args: () => ['zoo', '--cache-dir', IN('a-file')], exit: 2, names: ['--cache-dir', 'a-file'] },
  // port 9 is refused by fetch itself: nothing leaves the machine
  { what: 'zoo download: --cache-dir is a file', args: () => ['zoo', 'download', 'http://127.0.0.1:9/x.pth', '--cache-dir', IN('a-file')], exit: 2, names: ['--cache-dir', 'a-file'] },
  { what: 'inspect-checkpoint: a file that does not exist', args: () => ['inspect-checkpoint', IN('missing.pth')], exit: 'either', names: ['missing.pth'] },
  { what: 'inspect-checkpoint: a checkpoint cut in half', args: () => ['inspect-checkpoint', IN('cut-in-half.pth')], exit: 1, names: ['cut-in-half.pth'] },
  { what: 'inspect-checkpoint: --key that is not in the file', args: () => ['inspect-checkpoint', W(), '--key', 'no_such_key'], exit: 'either', names: ['no_such_key'] },
  { what: 'merge-scores: a score file that is not JSON', args: (o) => ['merge-scores', IN('not-json.json'), '--output', o], exit: 1, names: ['not-json.json'] },
  { what: 'merge-scores: an input that does not exist', args: (o) => ['merge-scores', IN('no-scores.json'), '--output', o], exit: 'either', names: ['no-scores.json'] },
  { what: 'merge-scores: --coeff abc', args: (o) => ['merge-scores', IN('not-json.json'), '--coeff', 'abc', '--output', o], exit: 2, names: ['--coeff', 'abc'] },
  { what: 'start: --clips 0', args: (o) => ['start', '--clips', '0', '--out', join(o, 'clips')], exit: 2, names: ['--clips', '0'] },
];

/** Checks one outcome against the rule; returns the problems (none when it holds). */
function problems(c: Case, r: Outcome, before: readonly string[], after: readonly string[]): string[] {
  const out: string[] = [];
  if (r.hung) return [`still running after ${HANG_MS / 1000} s (killed)`];
  if (r.signal) out.push(`ended by ${r.signal}`);
  if (c.exit === 'either' ? r.status !== 1 && r.status !== 2 : r.status !== c.exit) out.push(`exit ${r.status}, expected ${c.exit === 'either' ? '1 or 2' : c.exit}`);
  const errors = r.stderr.split('\n').filter((l) => /^error\b/i.test(l));
  if (errors.length !== 1) out.push(`${errors.length} lines starting with "error", expected 1`);
  const at = r.stderr.search(/^error TSM_[A-Z_]+: /m);
  // the message: its line and the lines after it (a list of the bad lines of a list file, say)
  const message = at < 0 ? '' : r.stderr.slice(at);
  if (at < 0) out.push('no "error TSM_...:" line');
  else for (const n of c.names) if (!(typeof n === 'string' ? message.includes(n) : n.test(message))) out.push(`the error does not name ${String(n)}`);
  if (/^\s+at /m.test(r.stderr)) out.push('a stack trace on stderr');
  if (after.join('\n') !== before.join('\n')) out.push(`left behind: ${after.filter((p) => !before.includes(p)).join(', ')}`);
  return out;
}

// Two processes at a time: each is mostly tsx and onnxruntime start-up, and the machine may be shared.
describe('every verb keeps the bad-input rule: exit 1/2, one error TSM_ line naming the input, no stack trace, nothing written, no hang', { concurrency: 2 }, () => {
  CASES.forEach((c, k) => {
    test(c.what, async () => {
      const out = join(dir, `case-${String(k).padStart(2, '0')}`);
      mkdirSync(out);
      const args = c.args(out);
      const before = tree(out);
      const r = await tsm(args, out, { TSM_CACHE: join(out, 'cache') });
      const found = problems(c, r, before, tree(out));
      assert.deepEqual(found, [], `tsm ${args.map((a) => relative(dir, a).startsWith('..') ? a : relative(dir, a)).join(' ')}\n--- stderr ---\n${r.stderr}--- stdout ---\n${r.stdout.slice(0, 2000)}`);
    });
  });

  test('NaN and Inf in infer --input: exit 0, the logits written, a warning that counts them', async () => {
    const out = join(dir, 'case-nan');
    mkdirSync(out);
    const r = await tsm(infer(W(), IN('nan.npy'))(out), out, { TSM_CACHE: join(out, 'cache') });
    assert.ok(!r.hung, 'still running after the time limit');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /warning: --input \S*nan\.npy: 1 NaN and 1 infinite of 49152 values/);
    assert.doesNotMatch(r.stderr, /^error/m);
    assert.deepEqual(tree(out), ['y.npy']);
    assert.ok(statSync(join(out, 'y.npy')).size > 0);
  });
});

test('no case wrote anything next to the shared inputs (no temporary file, cache or frames)', () => {
  assert.deepEqual(tree(inp), inputsTree);
});
