/**
 * Frame preprocessing of the online demo (`get_transform()`: `GroupScale(256)`, `GroupCenterCrop(224)`,
 * `ToTorchFormatTensor`, `GroupNormalize(ImageNet)`), split so each host does the resize its own way: the browser
 * draws the crop window onto a canvas, Node resizes with the Pillow port. Browser-safe (no Node imports).
 */
import { centerCropOffset, roundHalfEven, scaledSize } from '../util/crop-geometry.js';
import { ShapeError, UsageError } from '../errors.js';
import type { FramePreprocessing } from './metadata.js';

/** A rectangle of the source frame, in source pixels (fractional), that becomes the network input. */
export interface CropWindow {
  readonly sx: number;
  readonly sy: number;
  readonly sw: number;
  readonly sh: number;
}

export { roundHalfEven, scaledSize };

/**
 * The part of a `srcWidth` x `srcHeight` frame that `GroupScale(scaleSize)` + `GroupCenterCrop(inputSize)` keep,
 * in source coordinates: draw it onto an `inputSize` canvas to do both in one resize.
 * @throws {ShapeError} when the frame is empty or the crop is larger than the resized frame
 * @example
 * const { sx, sy, sw, sh } = cropWindow(video.videoWidth, video.videoHeight, info);
 * ctx.drawImage(video, sx, sy, sw, sh, 0, 0, 224, 224);
 */
export function cropWindow(srcWidth: number, srcHeight: number, prep: Pick<FramePreprocessing, 'inputSize' | 'scaleSize'>): CropWindow {
  if (!(srcWidth > 0 && srcHeight > 0)) throw new ShapeError(`frame has size ${srcWidth}x${srcHeight}; the video has no picture yet`);
  const [th, tw] = prep.inputSize;
  const scaled = scaledSize(srcWidth, srcHeight, prep.scaleSize);
  if (th > scaled.height || tw > scaled.width) {
    throw new ShapeError(`crop ${tw}x${th} is larger than the resized frame ${scaled.width}x${scaled.height} (scale size ${prep.scaleSize})`);
  }
  const { left, top } = centerCropOffset(scaled.width, scaled.height, tw, th);
  const fx = srcWidth / scaled.width;
  const fy = srcHeight / scaled.height;
  return { sx: left * fx, sy: top * fy, sw: tw * fx, sh: th * fy };
}

/**
 * Interleaved 8-bit pixels (RGB, or RGBA as canvas `ImageData` gives them) to a normalized `[3, H, W]` float
 * array: `(v / 255 - mean[c]) / std[c]`, as `ToTorchFormatTensor(div=True)` then `GroupNormalize` (without the
 * `/ 255` when `inputRange` is 255).
 * @param out reused when given (must hold `3 * width * height` floats)
 * @throws {ShapeError} when the pixel count does not match
 */
export function normalizeFrame(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  channels: 3 | 4,
  prep: Pick<FramePreprocessing, 'mean' | 'std' | 'inputRange'>,
  out: Float32Array = new Float32Array(3 * width * height),
): Float32Array {
  const n = width * height;
  if (pixels.length !== n * channels) {
    throw new ShapeError(`frame has ${pixels.length} bytes, expected ${n * channels} for ${width}x${height} with ${channels} channels`);
  }
  if (out.length !== 3 * n) throw new ShapeError(`output holds ${out.length} floats, expected ${3 * n}`);
  if (prep.mean.length !== 3 || prep.std.length !== 3) throw UsageError.expected('mean/std', '3 values each', { mean: prep.mean, std: prep.std });
  for (let c = 0; c < 3; c++) {
    // NOTE: folded into one multiply-add; differs from (v / 255 - m) / s by float rounding only
    const scale = (prep.inputRange ?? 1) / (255 * prep.std[c]);
    const shift = -prep.mean[c] / prep.std[c];
    const base = c * n;
    for (let i = 0; i < n; i++) out[base + i] = pixels[i * channels + c] * scale + shift;
  }
  return out;
}
