/**
 * Turns what `actionRecognizer(model)` was given into open models: the clip model `recognize()` runs, and where
 * the online model `recognize.stream()` runs comes from. Everything is decided here, once; sessions stay open.
 * Node only.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { extractStateDict, readPth, stripPrefix } from '../checkpoint/index.js';
import { numberedLabels, parseDeployMetadata, readOnnxMetadata } from '../deploy/browser.js';
import { DEFAULT_MODEL_DIR, readDefaultModel } from '../deploy/default-model.js';
import { buildClipExportGraph } from '../deploy/export.js';
import { type LiveModel, openOnlineModel } from '../deploy/live.js';
import { UsageError } from '../errors.js';
import { encodeOnnx } from '../graph/index.js';
import { type TsnOverrides, tsnFromStateDict } from '../models/load.js';
import type { OnlineMobileNetV2 } from '../models/online-mobilenet-v2.js';
import { onlineMobileNetV2FromStateDict } from '../models/online.js';
import type { HostTensor } from '../tensor/index.js';
import { type ProgressCallback, checkpointLabels, resolveWeights } from '../zoo/index.js';
import { ClipModel, type SessionSettings } from './clip-model.js';

/** How models are found and opened. */
export interface OpenSettings extends SessionSettings {
  /** Class names that replace the model's own. */
  readonly labels?: readonly string[];
  /** Crop side of a checkpoint (an exported model records its own). */
  readonly inputSize?: number;
  /** Configuration of a checkpoint whose name and contents do not say it all. */
  readonly overrides?: TsnOverrides;
  /** Download folder for zoo names and URLs. */
  readonly cacheDir?: string;
  readonly onProgress?: ProgressCallback;
  readonly onNote?: (message: string) => void;
}

/** Where the online model of `recognize.stream()` comes from; opened on first use. */
export interface OnlineSource {
  /** For messages: what it is. */
  readonly name: string;
  open(): Promise<LiveModel>;
}

/** The models of one recognizer. */
export interface OpenedModels {
  /** What was loaded, for messages: a file name, a zoo name, or the built-in default model. */
  readonly name: string;
  /** The clip model; absent when the model is an online one. */
  readonly clip?: ClipModel;
  /** The online model, when the model is one (already open) or has one (opened on first use). */
  readonly online?: LiveModel | OnlineSource;
}

function checkLabels(labels: readonly string[] | undefined, numClasses: number, name: string): readonly string[] | undefined {
  if (labels !== undefined && labels.length !== numClasses) {
    throw new UsageError(`got ${labels.length} labels for ${name}, which has ${numClasses} classes; pass one name per class, in class order`);
  }
  return labels;
}

/** Opens an online model and makes sure it is one. */
async function openOnline(open: () => Promise<LiveModel>, labels: readonly string[] | undefined): Promise<LiveModel> {
  const live = await open();
  if (labels !== undefined && live.info.labels.length !== labels.length) {
    await live.release();
    throw new UsageError(`the online model has ${live.info.numClasses} classes and the clip model ${labels.length}; pass an online model of the same classes (option online)`);
  }
  // an online model exported without labels gets the clip model's
  return live.info.defaultLabels && labels ? { ...live, info: { ...live.info, labels, defaultLabels: false } } : live;
}

/** A checkpoint in the online demo's layout (`features.*`, `classifier.*`) rather than TSN's (`base_model.*`). */
const isOnlineLayout = (sd: ReadonlyMap<string, HostTensor>): boolean => ![...stripPrefix(sd, 'module.').keys()].some((k) => k.startsWith('base_model.'));

/** Opens a `.pth`: a TSN checkpoint as a clip model, the online demo's state dict as an online model. */
async function openCheckpoint(path: string, o: OpenSettings): Promise<OpenedModels> {
  const name = basename(path);
  const { stateDict, meta } = extractStateDict(await readPth(path), { source: name });
  const session = { device: o.device, threads: o.threads };
  if (isOnlineLayout(stateDict)) {
    const { model } = onlineMobileNetV2FromStateDict(stateDict, { source: name });
    const labels = checkLabels(o.labels, model.numClasses, name) ?? checkpointLabels(path, meta, model.numClasses);
    return { name, online: await openOnlineModel({ network: model, inputSize: o.inputSize, labels, ...session }) };
  }
  const { model, resolved } = tsnFromStateDict(path, stateDict, meta, o.overrides, { onNote: o.onNote });
  const numClass = model.config.numClass;
  const labels =
    checkLabels(o.labels, numClass, name) ?? checkpointLabels(path, meta, numClass) ?? numberedLabels(numClass);
  const graph = buildClipExportGraph(model, { inputSize: o.inputSize ?? model.inputSize, labels }).graph;
  const clip = await ClipModel.open(encodeOnnx(graph, { opset: graph.opset }), name, session);
  // weights trained with the online (uni-directional) shift run unchanged frame by frame
  const c = resolved.options;
  let online: OnlineSource | undefined;
  if (c.baseModel === 'mobilenetv2' && c.isShift && c.shiftMode === 'online') {
    const network: OnlineMobileNetV2 = onlineMobileNetV2FromStateDict(stateDict, { source: name }).model;
    online = { name: `${name} (online)`, open: () => openOnlineModel({ network, inputSize: clip.input.inputSize, labels, ...session }) };
  }
  return { name, clip, online };
}

/** Opens an `.onnx` written by `tsm export` (clip or online). */
async function openOnnx(path: string, o: OpenSettings): Promise<OpenedModels> {
  const name = basename(path);
  const session = { device: o.device, threads: o.threads };
  const bytes = await readFile(path);
  const kind = parseDeployMetadata(readOnnxMetadata(bytes)).kind;
  if (kind === 'online') {
    const live = await openOnlineModel({ model: path, ...session });
    const labels = checkLabels(o.labels, live.info.numClasses, name);
    return { name, online: labels ? { ...live, info: { ...live.info, labels, defaultLabels: false } } : live };
  }
  const clip = await ClipModel.open(bytes, name, session, o.labels);
  return { name, clip };
}

/** The built-in default model: the clip ONNX shipped in models/default, and its online variant for streams. */
async function openDefault(o: OpenSettings): Promise<OpenedModels> {
  const model = readDefaultModel();
  const clipOnnx = model?.file('clip', 'onnx');
  if (!model || !clipOnnx || !existsSync(clipOnnx)) {
    throw new UsageError(`the built-in default model is missing from ${DEFAULT_MODEL_DIR} (model.json and its clip .onnx); reinstall temporal-shift, or rebuild it with npm run train:default`);
  }
  const name = `the built-in default model (${model.card.name})`;
  const opened = await openOnnx(clipOnnx, o);
  const onlineOnnx = model.file('online', 'onlineOnnx');
  const session = { device: o.device, threads: o.threads };
  const online: OnlineSource | undefined =
    onlineOnnx && existsSync(onlineOnnx) ? { name: `${name}, online variant`, open: () => openOnlineModel({ model: onlineOnnx, ...session }) } : undefined;
  return { ...opened, name, online };
}

/**
 * Resolves and opens the models of a recognizer.
 * @param spec undefined for the built-in default; a zoo name, a URL, or a `.pth` / `.onnx` path
 * @param online a model for streams (zoo name, URL, `.onnx` or `.pth`), used instead of the model's own
 */
export async function openModels(spec: string | undefined, online: string | undefined, o: OpenSettings): Promise<OpenedModels> {
  let opened: OpenedModels;
  if (spec === undefined) {
    opened = await openDefault(o);
  } else {
    const path = await resolveWeights(spec, { cacheDir: o.cacheDir, onProgress: o.onProgress });
    opened = /\.onnx$/i.test(path) ? await openOnnx(path, o) : await openCheckpoint(path, o);
  }
  if (online === undefined) return opened;
  const labels = opened.clip?.info.labels;
  const onlineSource: OnlineSource = {
    name: online,
    open: async () => {
      const path = await resolveWeights(online, { cacheDir: o.cacheDir, onProgress: o.onProgress });
      const session = { device: o.device, threads: o.threads };
      return /\.onnx$/i.test(path)
        ? openOnlineModel({ model: path, ...session })
        : openOnlineModel({ weights: path, inputSize: opened.clip?.input.inputSize ?? o.inputSize, labels, ...session });
    },
  };
  return { ...opened, online: { name: onlineSource.name, open: () => openOnline(onlineSource.open, labels) } };
}
