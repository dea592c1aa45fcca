/**
 * Decoded frames and the pixel operations the group transforms need, each as PIL computes it, pixel for pixel:
 * decoding through libjpeg-turbo or sharp, and resizing, crops, flips and inversions in JS (a port of Pillow's
 * resampler, so that training and test inputs equal the original's). Node only.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { DataError, UsageError } from '../errors.js';
import { decodeJpegFast } from './jpeg.js';
import { resizeRgbSimd } from './pixel-kernels.js';

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

/** How {@link decodeImage} decodes. */
export interface DecodeOptions {
  /**
   * Decode JPEGs with libjpeg-turbo's fast integer IDCT (optional `@julusian/jpeg-turbo`; about 4x faster than sharp
   * at frame sizes). Pixels then differ from PIL's by about one level of 255 (a few at most), far below what training
   * augmentation changes, so the training loader uses it; evaluation keeps the exact decode. Ignored (exact decode)
   * when the package is not installed or refuses the file. @default false
   */
  readonly fast?: boolean;
}

/**
 * Decodes an image file (JPEG, PNG, ...) or an encoded buffer to RGB or L, as PIL's `Image.open(p).convert(mode)`,
 * pixel for pixel (sharp, whose libjpeg uses PIL's accurate IDCT), or nearly so with `fast`.
 * @param source a file path or the encoded bytes
 * @param mode @default 'RGB'
 * @throws {DataError} naming the file when it is missing, truncated or not an image
 * @example const img = await decodeImage('frames/v1/img_00001.jpg'); img.width // 340
 */
export async function decodeImage(source: string | Uint8Array, mode: ImageMode = 'RGB', options: DecodeOptions = {}): Promise<Image> {
  const what = typeof source === 'string' ? source : `an encoded image of ${source.byteLength} bytes`;
  try {
    // NOTE: a synchronous read: frames are small and usually in the page cache, where fs.promises' chunked reads
    // cost more than the read itself; loader workers are threads of their own
    const bytes = typeof source === 'string' ? readFileSync(source) : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
    const fast = options.fast ? decodeJpegFast(bytes) : undefined;
    if (fast) return toMode(fast.data, fast.width, fast.height, 3, mode);
    const { data, info } = await sharp(bytes, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
    return toMode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info.width, info.height, info.channels, mode);
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (cause as Error).message;
    throw new DataError(`cannot decode ${what}: ${reason}`, { cause });
  }
}

/** Encodes an image as JPEG (sharp, libjpeg with 4:2:0 chroma as PIL's default). */
export async function encodeJpeg(img: Image, quality = 90): Promise<Buffer> {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } })
    .jpeg({ quality, chromaSubsampling: '4:2:0' })
    .toBuffer();
}

/** Pillow's fixed-point precision for 8-bit resampling (`PRECISION_BITS = 32 - 8 - 2`). */
const PRECISION_BITS = 22;

/**
 * Pillow's `precompute_coeffs` for the triangle filter, laid out with one tap count for every output pixel: output
 * `i` reads inputs `start[i] .. start[i] + taps - 1` with weights `weights[i * taps ..]`. Pillow's own windows vary
 * in length by one; a short window is padded with zero weights (moved left at the far edge so that it stays inside
 * the input), which changes no sum and lets the passes below run without a branch per pixel.
 */
interface Coeffs {
  readonly start: Int32Array;
  readonly taps: number;
  readonly weights: Int32Array;
}

const coeffCache = new Map<string, Coeffs>();

/** {@link computeBilinearCoeffs}, cached: a loader sees the same few (crop, output) size pairs over and over. */
function bilinearCoeffs(inSize: number, outSize: number): Coeffs {
  const key = `${inSize}>${outSize}`;
  let c = coeffCache.get(key);
  if (!c) {
    if (coeffCache.size >= 256) coeffCache.clear();
    c = computeBilinearCoeffs(inSize, outSize);
    coeffCache.set(key, c);
  }
  return c;
}

/** Triangle-filter coefficients mapping `inSize` to `outSize`, widened by the scale when shrinking (antialias). */
function computeBilinearCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear support 1.0, times the filter scale
  const windows: { xmin: number; w: number[] }[] = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const k: number[] = [];
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) / filterScale);
      k.push(t < 1 ? 1 - t : 0);
      ww += k[x];
    }
    // NOTE: Pillow rounds half away from zero when converting the weights to fixed point
    const w = k.map((v) => (ww === 0 ? 0 : v / ww)).map((v) => (v < 0 ? Math.trunc(-0.5 + v * (1 << PRECISION_BITS)) : Math.trunc(0.5 + v * (1 << PRECISION_BITS))));
    windows.push({ xmin, w });
  }
  const taps = Math.min(Math.max(...windows.map((x) => x.w.length)), inSize);
  const start = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  windows.forEach(({ xmin, w }, i) => {
    const s = Math.min(xmin, inSize - taps);
    start[i] = s;
    w.forEach((v, t) => (weights[i * taps + xmin - s + t] = v));
  });
  return { start, taps, weights };
}

/** A rectangle of an image: left, top, width, height. */
export interface Region {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/**
 * Pillow's horizontal resampling pass over the rows of `box`, treating the box as the whole image (a crop).
 * NOTE: products stay below 255 * 2^22 < 2^30 and sums below 2^31 (bilinear weights are non-negative and sum to
 * 2^22 give or take half a unit per tap), so Math.imul and `| 0` keep V8 on int32 arithmetic, several times faster
 * than the float path it takes when a product might overflow. For the same reason a sum never exceeds
 * 255.5 * 2^22, so Pillow's clip to [0, 255] never applies and is left out. RGB frames usually take the SIMD
 * kernel instead (pixel-kernels.ts), which computes the same.
 */
function resampleHorizontal(img: Image, box: Region, width: number, { start, taps, weights }: Coeffs): Image {
  const c = img.channels;
  const out = new Uint8Array(width * box.h * c);
  const src = img.data;
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0, o = 0; y < box.h; y++) {
    const row = ((box.y + y) * img.width + box.x) * c;
    for (let i = 0; i < width; i++) {
      for (let k = 0; k < c; k++) {
        let s = half;
        for (let t = 0, p = row + start[i] * c + k; t < taps; t++, p += c) s = (s + Math.imul(src[p], weights[i * taps + t])) | 0;
        out[o++] = s >> PRECISION_BITS;
      }
    }
  }
  return makeImage(width, box.h, c, out);
}

/** Pillow's vertical resampling pass: each output row is a weighted sum of a few whole input rows (int32 as above). */
function resampleVertical(img: Image, height: number, { start, taps, weights }: Coeffs): Image {
  const rowLen = img.width * img.channels;
  const out = new Uint8Array(rowLen * height);
  const src = img.data;
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < height; yy++) {
    const wo = yy * taps;
    const r0 = start[yy] * rowLen;
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let s = half;
      for (let t = 0, r = r0 + i; t < taps; t++, r += rowLen) s = (s + Math.imul(src[r], weights[wo + t])) | 0;
      out[o + i] = s >> PRECISION_BITS;
    }
  }
  return makeImage(img.width, height, img.channels, out);
}

/**
 * Resizes to `width` x `height` as PIL's `resize(size, BILINEAR)`, bit for bit: Pillow's separable triangle filter
 * (widened by the scale when shrinking, i.e. antialiased) in its 22-bit fixed point, horizontal pass then vertical
 * pass, each rounded to 8 bits. This is what `GroupScale` and `GroupMultiScaleCrop` use.
 * @param box resize only this region, with the pixels of `cropImage(img, box...)` then `resizeBilinear`, without
 *   the copy (not PIL's `box` argument, whose filter reaches outside the box)
 * @throws {UsageError} for a non-positive size
 * @throws {DataError} when `box` is not inside the image
 */
export function resizeBilinear(img: Image, width: number, height: number, box?: Region): Image {
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new UsageError(`resize: expected a positive integer size, got ${width}x${height}`);
  }
  const b = box ?? { x: 0, y: 0, w: img.width, h: img.height };
  checkRegion(img, b);
  const h = width !== b.w ? bilinearCoeffs(b.w, width) : undefined;
  const v = height !== b.h ? bilinearCoeffs(b.h, height) : undefined;
  const simd = img.channels === 3 ? resizeRgbSimd(img.data, img.width, b, width, height, h, v) : undefined;
  if (simd) return makeImage(width, height, 3, simd);
  const cur = h ? resampleHorizontal(img, b, width, h) : cropImage(img, b.x, b.y, b.w, b.h);
  return v ? resampleVertical(cur, height, v) : cur;
}

function checkRegion(img: Image, { x, y, w, h }: Region): void {
  if (x < 0 || y < 0 || x + w > img.width || y + h > img.height || w <= 0 || h <= 0 || ![x, y, w, h].every(Number.isInteger)) {
    throw new DataError(`crop ${w}x${h} at (${x}, ${y}) does not fit in a ${img.width}x${img.height} image`);
  }
}

/**
 * Copies the `width` x `height` region at (`left`, `top`), as PIL's `img.crop((left, top, left + width, top + height))`.
 * @throws {DataError} when the region is not inside the image
 */
export function cropImage(img: Image, left: number, top: number, width: number, height: number): Image {
  if (left === 0 && top === 0 && width === img.width && height === img.height) return img;
  checkRegion(img, { x: left, y: top, w: width, h: height });
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
    if (c === 3) {
      for (let s = row, d = row + (width - 1) * 3; d >= row; s += 3, d -= 3) {
        out[d] = data[s];
        out[d + 1] = data[s + 1];
        out[d + 2] = data[s + 2];
      }
    } else {
      for (let x = 0; x < width; x++) out[row + width - 1 - x] = data[row + x];
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
