/**
 * Action recognition in one call: `actionRecognizer(model)` loads a model once (the built-in default, a zoo name,
 * a URL, or a `.pth` / `.onnx` path) and returns a callable for videos, frame folders and clips, with `stream()`
 * for per-frame labels from the online model. Node only.
 *
 * @example
 * import { actionRecognizer } from 'temporal-shift';
 * const recognize = await actionRecognizer();
 * const top = await recognize('clip.mp4', { topK: 5 });
 */
export {
  actionRecognizer,
  type ActionRecognizer,
  type ActionRecognizerOptions,
  type ActionScore,
  type FramePrediction,
  type RecognizeOptions,
  type RecognizerModel,
  type StreamOptions,
} from './recognizer.js';
export { ClipModel, type RecognizerInput, type SessionSettings } from './clip-model.js';
