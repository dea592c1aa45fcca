/**
 * A picture from the page (a `<video>`, an image, a canvas, a `VideoFrame`, `ImageData`) to the network input: the
 * crop window of `GroupScale` + `GroupCenterCrop` is drawn onto a canvas of the input size (one resize), then
 * normalized. Works in a worker too (OffscreenCanvas). Browser only.
 */
import { ShapeError, UsageError } from '../errors.js';
import { type FramePreprocessing, cropWindow, normalizeFrame } from '../deploy/browser.js';

/**
 * What {@link FramePreprocessor.run} (and a recognizer's `step`) accepts: anything a canvas can draw, `ImageData`,
 * or an already normalized `[3, H, W]` frame.
 */
export type FrameInput = HTMLVideoElement | HTMLImageElement | HTMLCanvasElement | ImageBitmap | OffscreenCanvas | VideoFrame | ImageData | Float32Array;

type Canvas2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

function makeCanvas(width: number, height: number): { canvas: HTMLCanvasElement | OffscreenCanvas; ctx: Canvas2D } {
  let canvas: HTMLCanvasElement | OffscreenCanvas;
  if (typeof OffscreenCanvas !== 'undefined') canvas = new OffscreenCanvas(width, height);
  else {
    canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as Canvas2D | null;
  if (!ctx) throw new UsageError('this browser gives no 2D canvas context; frames cannot be preprocessed');
  ctx.imageSmoothingQuality = 'high';
  return { canvas, ctx };
}

const isA = <T>(ctor: string, x: unknown): x is T => {
  const c = (globalThis as Record<string, unknown>)[ctor];
  return typeof c === 'function' && x instanceof (c as new () => T);
};

/** The picture size of `source` (the video's frame size, not the element's box). */
function sourceSize(source: Exclude<FrameInput, Float32Array | ImageData>): [number, number] {
  if (isA<HTMLVideoElement>('HTMLVideoElement', source)) return [source.videoWidth, source.videoHeight];
  if (isA<HTMLImageElement>('HTMLImageElement', source)) return [source.naturalWidth, source.naturalHeight];
  if (isA<VideoFrame>('VideoFrame', source)) return [source.displayWidth, source.displayHeight];
  return [source.width, source.height];
}

/** Turns pictures into normalized network inputs for one model. */
export class FramePreprocessor {
  private readonly crop: { canvas: HTMLCanvasElement | OffscreenCanvas; ctx: Canvas2D };
  private scratch?: { canvas: HTMLCanvasElement | OffscreenCanvas; ctx: Canvas2D };

  constructor(readonly prep: FramePreprocessing) {
    const [h, w] = prep.inputSize;
    this.crop = makeCanvas(w, h);
  }

  /** Elements of one frame (`3 * H * W`). */
  get frameSize(): number {
    return 3 * this.prep.inputSize[0] * this.prep.inputSize[1];
  }

  /**
   * Preprocesses `source` into `out` (a `Float32Array` input is checked and copied).
   * @throws {ShapeError} when the picture is empty (a video with no frame yet) or a given frame has the wrong size
   */
  run(source: FrameInput, out: Float32Array = new Float32Array(this.frameSize)): Float32Array {
    if (source instanceof Float32Array) {
      if (source.length !== this.frameSize) {
        throw new ShapeError(`frame has ${source.length} values, expected ${this.frameSize} (3x${this.prep.inputSize.join('x')})`);
      }
      out.set(source);
      return out;
    }
    let drawable: Exclude<FrameInput, Float32Array | ImageData>;
    if (isA<ImageData>('ImageData', source)) {
      // drawImage cannot crop ImageData: put it on a canvas of its own size first
      if (!this.scratch || this.scratch.canvas.width !== source.width || this.scratch.canvas.height !== source.height) {
        this.scratch = makeCanvas(source.width, source.height);
      }
      this.scratch.ctx.putImageData(source, 0, 0);
      drawable = this.scratch.canvas;
    } else drawable = source;
    const [sw0, sh0] = sourceSize(drawable);
    const { sx, sy, sw, sh } = cropWindow(sw0, sh0, this.prep);
    const [h, w] = this.prep.inputSize;
    const { ctx } = this.crop;
    ctx.drawImage(drawable, sx, sy, sw, sh, 0, 0, w, h);
    return normalizeFrame(ctx.getImageData(0, 0, w, h).data, w, h, 4, this.prep, out);
  }
}
