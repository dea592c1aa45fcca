/**
 * Loading the online TSM-MobileNetV2 from a checkpoint: the online demo's own state dict, or a TSN
 * TSM-MobileNetV2 checkpoint. Stepping it frame by frame is deployment's job (`openOnlineModel` and
 * `OnlineStepper` in src/deploy, over the step graph this model builds).
 */
import { extractStateDict, readPth } from '../checkpoint/index.js';
import { type LoadOnlineOptions, type LoadedOnlineModel, onlineMobileNetV2FromStateDict } from './online-mobilenet-v2.js';

export { type LoadOnlineOptions, type LoadedOnlineModel, onlineMobileNetV2FromStateDict } from './online-mobilenet-v2.js';

/**
 * Reads a `.pth` (the online demo's state dict, or a TSN checkpoint of TSM-MobileNetV2) into an online model.
 * Node only.
 * @example
 * const { model, layout } = await loadOnlineMobileNetV2('mobilenetv2_jester_online.pth');
 */
export async function loadOnlineMobileNetV2(path: string, opts: LoadOnlineOptions = {}): Promise<LoadedOnlineModel> {
  const source = opts.source ?? path;
  const { stateDict } = extractStateDict(await readPth(path), { source });
  return onlineMobileNetV2FromStateDict(stateDict, { ...opts, source });
}
