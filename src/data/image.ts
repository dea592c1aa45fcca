/**
 * Decoded frames and the pixel operations the group transforms need. Decoding and resizing run in sharp (libvips);
 * crops, flips and inversions are plain copies in JS. Node only (sharp).
 */
import sharp, { type Sharp } from 'sharp';
import { DataError, UsageError, invariant } from '../errors.js';

/** A decoded 8-bit image, rows top to bottom, channels interleaved (HWC), as PIL's `np.array(img)`. */
export interface Image {
  readonly width: number;
  readonly height: number;
  /** 3 for RGB, 1 for grayscale ('L', flow frames). */
  readonly channels: 1 | 3;
  readonly data: Uint8Array;
}

/** PIL image modes we decode to: `RGB` for frames, `L` for flow components. */
export type ImageMode = 'RGB' | 'L';

sharp.cache(false); // every frame is decoded once; libvips' operation cache would only hold memory

/** Makes an {@link Image}, checking the buffer size. */
export function makeImage(width: number, height: number, channels: 1 | 3, data?: Uint8Array): Image {
  const n = width * height * channels;
  if (data && data.length !== n) throw new DataError(`image data has ${data.length} bytes, expected ${width}x${height}x${channels} = ${n}`);
  return { width, height, channels, data: data ?? new Uint8Array(n) };
}

/** PIL's `convert('L')` from RGB: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
function toGray(data: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) out[i] = (data[j] * 19595 + data[j + 1] * 38470 + data[j + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

/** Converts raw decoder output with 1..4 channels to RGB or L. */
function toMode(data: Uint8Array, width: number, height: number, channels: number, mode: ImageMode): Image {
  const n = width * height;
  if (mode === 'L') {
    if (channels === 1) return makeImage(width, height, 1, data);
    const rgb = channels === 3 ? data : dropChannels(data, n, channels);
    return makeImage(width, height, 1, toGray(rgb, n));
  }
  if (channels === 3) return makeImage(width, height, 3, data);
  if (channels === 1) {
    const out = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = data[i];
    return makeImage(width, height, 3, out);
  }
  return makeImage(width, height, 3, dropChannels(data, n, channels));
}

function dropChannels(data: Uint8Array, n: number, channels: number): Uint8Array {
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const g = channels === 2; // gray + alpha
    out[3 * i] = data[channels * i];
    out[3 * i + 1] = data[channels * i + (g ? 0 : 1)];
    out[3 * i + 2] = data[channels * i + (g ? 0 : 2)];
  }
  return out;
}

/**
 * Decodes an image file (JPEG, PNG, ...) or an encoded buffer to RGB or L, as PIL's `Image.open(p).convert(mode)`.
 * @param source a file path or the encoded bytes
 * @param mode @default 'RGB'
 * @throws {DataError} naming the file when it is missing, truncated or not an image
 * @example const img = await decodeImage('frames/v1/img_00001.jpg'); img.width // 340
 */
export async function decodeImage(source: string | Uint8Array, mode: ImageMode = 'RGB'): Promise<Image> {
  try {
    const input = typeof source === 'string' ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    const { data, info } = await sharp(input, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return toMode(bytes, info.width, info.height, info.channels, mode);
  } catch (cause) {
    const what = typeof source === 'string' ? source : `an encoded image of ${source.byteLength} bytes`;
    throw new DataError(`cannot decode ${what}: ${(cause as Error).message}`, { cause });
  }
}

/** Width and height from an image file's header, without decoding it. */
export async function imageSize(path: string): Promise<{ width: number; height: number }> {
  try {
    const m = await sharp(path).metadata();
    return { width: m.width ?? 0, height: m.height ?? 0 };
  } catch (cause) {
    throw new DataError(`cannot decode ${path}: ${(cause as Error).message}`, { cause });
  }
}

/**
 * Decodes an RGB file, crops it and resizes the crop (bilinear, as {@link resizeBilinear}) in one libvips pipeline,
 * which saves a decode-sized copy and a second sharp call per frame. Gives the same pixels as
 * `resizeBilinear(cropImage(await decodeImage(path), ...), width, height)`.
 * @throws {DataError} naming the file when it is missing or broken
 */
export async function decodeCropResize(
  path: string,
  crop: { readonly x: number; readonly y: number; readonly w: number; readonly h: number },
  width: number,
  height: number,
): Promise<Image> {
  let img: Image;
  try {
    let s = sharp(path, { failOn: 'truncated' }).extract({ left: crop.x, top: crop.y, width: crop.w, height: crop.h });
    const shrinkW = Math.min(width, crop.w);
    const shrinkH = Math.min(height, crop.h);
    if (shrinkW < crop.w || shrinkH < crop.h) s = s.resize(shrinkW, shrinkH, { fit: 'fill', kernel: 'linear' });
    const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
    img = toMode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, info.channels, 'RGB');
  } catch (cause) {
    throw new DataError(`cannot decode ${path}: ${(cause as Error).message}`, { cause });
  }
  return width > img.width || height > img.height ? resizeBilinearPillow(img, width, height) : img;
}

/** Encodes an image as JPEG (sharp, libjpeg with 4:2:0 chroma as PIL's default). */
export async function encodeJpeg(img: Image, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .jpeg({ quality, chromaSubsampling: '4:2:0' })
    .toBuffer();
}

function rawInput(img: Image): Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
}

async function rawOutput(s: Sharp, channels: 1 | 3): Promise<Image> {
  // NOTE: some libvips operations (extend) promote a 1-band raw input to sRGB; ask for b-w back
  const { data, info } = await (channels === 1 ? s.toColourspace('b-w') : s).raw().toBuffer({ resolveWithObject: true });
  invariant(info.channels === channels, () => `sharp returned ${info.channels} channels, expected ${channels}`);
  return makeImage(info.width, info.height, channels, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/**
 * Resizes to `width` x `height` with PIL's `BILINEAR` semantics (what `GroupScale` and `GroupMultiScaleCrop` use).
 * NOTE: shrinking axes go through sharp (libvips reduce with a linear kernel, which widens the triangle filter by the
 * scale factor as Pillow does); enlarging axes go through {@link resizeBilinearPillow}, because sharp's upsampler
 * uses another pixel alignment (off by a quarter pixel at 2x). Measured against PIL: shrinking within 4 levels of
 * 255 (mean 0.25), enlarging identical; see test/data/transforms-golden.test.ts.
 * @throws {UsageError} for a non-positive size
 */
export async function resizeBilinear(img: Image, width: number, height: number): Promise<Image> {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new UsageError(`resize: expected a positive integer size, got ${width}x${height}`);
  }
  let cur = img;
  if (width < cur.width || height < cur.height) {
    const w = Math.min(width, cur.width);
    const h = Math.min(height, cur.height);
    cur = await rawOutput(rawInput(cur).resize(w, h, { fit: 'fill', kernel: 'linear' }), img.channels);
  }
  if (width > cur.width || height > cur.height) cur = resizeBilinearPillow(cur, width, height);
  return cur;
}

/** Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS = 32 - 8 - 2`). */
const PRECISION_BITS = 22;

/** Per output pixel: first input pixel, tap count, and fixed-point weights (Pillow's `precompute_coeffs`). */
interface Coeffs {
  readonly start: Int32Array;
  readonly taps: Int32Array;
  readonly weights: Int32Array;
  readonly ksize: number;
}

/** Triangle-filter coefficients mapping `inSize` to `outSize`, widened by the scale when shrinking (antialias). */
function bilinearCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1.0, times the filter scale
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      k[x] = t < 1 ? 1 - t : 0;
      ww += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww === 0 ? 0 : k[x] / ww;
      // NOTE: Pillow rounds half away from zero when converting the weights to fixed point
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS)) : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    start[xx] = xmin;
    taps[xx] = xmax;
  }
  return { start, taps, weights, ksize };
}

/** Pillow's horizontal resampling pass over all rows. */
function resampleHorizontal(img: Image, width: number): Image {
  const { start, taps, weights, ksize } = bilinearCoeffs(img.width, width);
  const c = img.channels;
  const out = new Uint8Array(width * img.height * c);
  const src = img.data;
  const half = 1 << (PRECISION_BITS - 1);
  // NOTE: sums stay below 255 * 2^22 + 2^21 < 2^31 (bilinear weights are non-negative), so int32 shifts are exact;
  // Uint8Array stores clamp nothing, hence the explicit clamp to 255
  for (let y = 0; y < img.height; y++) {
    const row = y * img.width * c;
    let o = y * width * c;
    for (let xx = 0; xx < width; xx++) {
      const n = taps[xx];
      const wo = xx * ksize;
      let p = row + start[xx] * c;
      if (c === 3) {
        let s0 = half;
        let s1 = half;
        let s2 = half;
        for (let t = 0; t < n; t++, p += 3) {
          const w = weights[wo + t];
          s0 += src[p] * w;
          s1 += src[p + 1] * w;
          s2 += src[p + 2] * w;
        }
        out[o++] = Math.min(255, s0 >> PRECISION_BITS);
        out[o++] = Math.min(255, s1 >> PRECISION_BITS);
        out[o++] = Math.min(255, s2 >> PRECISION_BITS);
      } else {
        let s0 = half;
        for (let t = 0; t < n; t++, p++) s0 += src[p] * weights[wo + t];
        out[o++] = Math.min(255, s0 >> PRECISION_BITS);
      }
    }
  }
  return makeImage(width, img.height, c, out);
}

/** Pillow's vertical resampling pass, accumulated row by row for sequential memory access. */
function resampleVertical(img: Image, height: number): Image {
  const { start, taps, weights, ksize } = bilinearCoeffs(img.height, height);
  const rowLen = img.width * img.channels;
  const out = new Uint8Array(rowLen * height);
  const src = img.data;
  const acc = new Int32Array(rowLen);
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < height; yy++) {
    acc.fill(half);
    const n = taps[yy];
    const wo = yy * ksize;
    for (let t = 0; t < n; t++) {
      const w = weights[wo + t];
      const r = (start[yy] + t) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += src[r + i] * w;
    }
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = Math.min(255, acc[i] >> PRECISION_BITS);
  }
  return makeImage(img.width, height, img.channels, out);
}

/**
 * Pillow's `resize(size, BILINEAR)` in JS, bit for bit: horizontal pass then vertical pass, each rounded to 8 bits.
 * Used for enlarging (sharp's upsampler uses another pixel alignment).
 */
export function resizeBilinearPillow(img: Image, width: number, height: number): Image {
  let cur = img;
  if (width !== cur.width) cur = resampleHorizontal(cur, width);
  if (height !== cur.height) cur = resampleVertical(cur, height);
  return cur;
}

/**
 * Copies the `width` x `height` region at (`left`, `top`), as PIL's `img.crop((left, top, left + width, top + height))`.
 * @throws {DataError} when the region is not inside the image
 */
export function cropImage(img: Image, left: number, top: number, width: number, height: number): Image {
  if (left === 0 && top === 0 && width === img.width && height === img.height) return img;
  if (left < 0 || top < 0 || left + width > img.width || top + height > img.height || width <= 0 || height <= 0) {
    throw new DataError(`crop ${width}x${height} at (${left}, ${top}) does not fit in a ${img.width}x${img.height} image`);
  }
  const c = img.channels;
  const out = new Uint8Array(width * height * c);
  const rowBytes = width * c;
  for (let y = 0; y < height; y++) {
    const src = ((top + y) * img.width + left) * c;
    out.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return makeImage(width, height, c, out);
}

/** Mirrors left-right (PIL's `transpose(FLIP_LEFT_RIGHT)`). */
export function flipImage(img: Image): Image {
  const { width, height, channels: c, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * c;
    for (let x = 0; x < width; x++) {
      const s = row + x * c;
      const d = row + (width - 1 - x) * c;
      for (let k = 0; k < c; k++) out[d + k] = data[s + k];
    }
  }
  return makeImage(width, height, c, out);
}

/** `255 - v` for every value (PIL's `ImageOps.invert`), used on flow-x frames when flipping. */
export function invertImage(img: Image): Image {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = 255 - img.data[i];
  return makeImage(img.width, img.height, img.channels, out);
}
