/**
 * temporal-shift: video action recognition with the Temporal Shift Module (TSM) on onnxruntime. This entry is the
 * front door for Node; the areas a power user needs have their own entries (`temporal-shift/models`, `/train`,
 * `/data`, `/checkpoint`, `/evaluate`, `/deploy`, `/zoo`, `/graph`, `/runtime`, ...), and `temporal-shift/web` is
 * the browser's (onnxruntime-web, no Node built-ins).
 *
 * @example
 * import { actionRecognizer } from 'temporal-shift';
 * const recognize = await actionRecognizer();                  // the built-in default model, no download
 * const top = await recognize('clip.mp4', { topK: 5 });        // [{ index, label, score }, ...] best first
 * for await (const p of recognize.stream('clip.mp4')) console.log(p.frame, p.label, p.score);
 * await recognize.dispose();
 */
export * from './recognize/index.js';
export * from './errors.js';
export { DownloadError, type DownloadFailure } from './zoo/download-error.js';
export { ZOO, type ZooEntry, zooLabels } from './zoo/index.js';
export type { ProgressCallback, ProgressEvent } from './zoo/index.js';
export { DEVICES, type Device } from './runtime/index.js';
export { type DType, type HostTensor, float32, hostTensor } from './tensor/index.js';
