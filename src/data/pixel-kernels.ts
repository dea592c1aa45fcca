/**
 * WebAssembly SIMD versions of the training loader's hottest loops (pixel-kernels.wat): Pillow's bilinear passes on
 * RGB frames and the normalisation of RGB frames into float planes. They compute exactly what the JS loops in
 * image.ts and transforms.ts compute (test/data/pixel-kernels.test.ts compares them), 2-4x faster, which is what
 * lets the loader keep up with PIL's C loops. Each call copies its input into the module's memory and its result
 * out again: plain memcpy, cheap next to the arithmetic. Where a kernel does not apply (other channel counts, very
 * small images) or WebAssembly SIMD is unavailable, the callers use their JS loops. Node only (reads the .wasm file).
 */
import { readFileSync } from 'node:fs';

interface KernelExports {
  readonly memory: WebAssembly.Memory;
  hpass3(src: number, stride: number, rows: number, outW: number, start: number, weights: number, dst: number): void;
  vpass(src: number, srcStride: number, rowLen: number, outRows: number, start: number, weights: number, taps: number, dst: number): void;
  normalize3(
    src: number, n: number, dst0: number, dst1: number, dst2: number, masks: number,
    scale: number, mean0: number, std0: number, mean1: number, std1: number, mean2: number, std2: number,
  ): void;
}

function instantiate(): KernelExports | undefined {
  try {
    const bytes = readFileSync(new URL('./pixel-kernels.wasm', import.meta.url));
    return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as KernelExports;
  } catch {
    return undefined; // a runtime without WebAssembly SIMD: the JS loops do the work
  }
}

const kernels = instantiate();
let enabled = kernels !== undefined;

/** Whether the SIMD kernels are loaded and in use. */
export function simdKernelsEnabled(): boolean {
  return enabled;
}

/**
 * Turns the SIMD kernels off (or back on, where they loaded), so tests can compare them with the JS loops.
 * @returns whether they were enabled before
 */
export function setSimdKernels(on: boolean): boolean {
  const was = enabled;
  enabled = on && kernels !== undefined;
  return was;
}

/** Filter coefficients as image.ts computes them: a fixed tap count per output, windows inside the input. */
export interface KernelCoeffs {
  readonly start: Int32Array;
  readonly taps: number;
  readonly weights: Int32Array;
}

/** Bump allocation in the module's memory for one call; every block is 16-byte aligned with 16 bytes of slack. */
class Arena {
  private top = 0;

  constructor(private readonly k: KernelExports) {}

  alloc(bytes: number): number {
    const at = this.top;
    this.top += Math.ceil((bytes + 16) / 16) * 16;
    return at;
  }

  /** Grows the memory to hold everything allocated; views made before this are invalid after it. */
  commit(): Uint8Array {
    const need = this.top - this.k.memory.buffer.byteLength;
    if (need > 0) this.k.memory.grow(Math.ceil(need / 65536));
    return new Uint8Array(this.k.memory.buffer);
  }
}

/** 3-tap windows with each tap's weight splatted over 4 lanes, as `hpass3` reads them; undefined if not 3-tap-able. */
function hpassTables(c: KernelCoeffs, inSize: number): { start: Int32Array; weights: Int32Array } | undefined {
  if (c.taps > 3 || inSize < 3) return undefined;
  const n = c.start.length;
  const start = new Int32Array(n);
  const weights = new Int32Array(n * 12);
  for (let i = 0; i < n; i++) {
    // a window shorter than 3 taps is widened with zero weights, moved left where it would pass the row's end
    const s = Math.min(c.start[i], inSize - 3);
    start[i] = s * 3;
    for (let t = 0; t < c.taps; t++) weights.fill(c.weights[i * c.taps + t], i * 12 + (c.start[i] - s + t) * 4, i * 12 + (c.start[i] - s + t + 1) * 4);
  }
  return { start, weights };
}

const hpassCache = new WeakMap<KernelCoeffs, { start: Int32Array; weights: Int32Array } | undefined>();

/**
 * Crops `box` out of an RGB image and resizes it to `width` x `height` with the given horizontal and vertical
 * coefficients (either may be absent: that axis keeps its size), in SIMD.
 * @returns the RGB bytes, or undefined when the kernels are off or do not apply (the caller then runs its JS loops)
 */
export function resizeRgbSimd(
  data: Uint8Array,
  imageWidth: number,
  box: { readonly x: number; readonly y: number; readonly w: number; readonly h: number },
  width: number,
  height: number,
  h: KernelCoeffs | undefined,
  v: KernelCoeffs | undefined,
): Uint8Array | undefined {
  if (!enabled || !kernels || (!h && !v)) return undefined;
  let ht: { start: Int32Array; weights: Int32Array } | undefined;
  if (h) {
    if (!hpassCache.has(h)) hpassCache.set(h, hpassTables(h, box.w));
    ht = hpassCache.get(h);
    if (!ht) return undefined;
  }
  if (v && width * 3 < 16) return undefined;
  const stride = imageWidth * 3;
  const arena = new Arena(kernels);
  const src = arena.alloc(box.h * stride);
  const mid = h ? arena.alloc(width * box.h * 3) : 0;
  const dst = v ? arena.alloc(width * height * 3) : mid;
  const hs = ht ? arena.alloc(ht.start.byteLength) : 0;
  const hw = ht ? arena.alloc(ht.weights.byteLength) : 0;
  const vs = v ? arena.alloc(v.start.byteLength) : 0;
  const vw = v ? arena.alloc(v.weights.byteLength) : 0;
  const mem = arena.commit();
  mem.set(data.subarray(box.y * stride, (box.y + box.h) * stride), src);
  if (ht) {
    mem.set(new Uint8Array(ht.start.buffer, ht.start.byteOffset, ht.start.byteLength), hs);
    mem.set(new Uint8Array(ht.weights.buffer, ht.weights.byteOffset, ht.weights.byteLength), hw);
    kernels.hpass3(src + box.x * 3, stride, box.h, width, hs, hw, mid);
  }
  if (v) {
    mem.set(new Uint8Array(v.start.buffer, v.start.byteOffset, v.start.byteLength), vs);
    mem.set(new Uint8Array(v.weights.buffer, v.weights.byteOffset, v.weights.byteLength), vw);
    // without a horizontal pass, the vertical one reads the crop straight out of the full-width rows
    const [from, fromStride] = h ? [mid, width * 3] : [src + box.x * 3, stride];
    kernels.vpass(from, fromStride, width * 3, height, vs, vw, v.taps, dst);
  }
  return mem.slice(dst, dst + width * height * 3);
}

/** Swizzle masks picking byte `k` of each of 4 RGB pixels into the low byte of an i32 lane. */
function channelMask(k: number): Uint8Array {
  const m = new Uint8Array(16).fill(255);
  for (let p = 0; p < 4; p++) m[p * 4] = p * 3 + k;
  return m;
}
const RGB_MASKS = [0, 1, 2].map(channelMask);

/**
 * Writes interleaved RGB bytes as three float32 planes of `out` at `planes` offsets (in floats):
 * `(x / scale - mean[k]) / std[k]`, each step rounded to float32 (as the JS lookup tables and PyTorch compute it).
 * @param bgr plane 0 takes the B bytes (Stack(roll=True))
 * @returns false when the kernels are off or the image has fewer than 4 pixels (the caller then runs its JS loop)
 */
export function normalizeRgbSimd(
  data: Uint8Array,
  pixels: number,
  out: Float32Array,
  planes: readonly [number, number, number],
  scale: number,
  mean: readonly [number, number, number],
  std: readonly [number, number, number],
  bgr: boolean,
): boolean {
  if (!enabled || !kernels || pixels < 4) return false;
  const arena = new Arena(kernels);
  const masks = arena.alloc(48);
  const src = arena.alloc(pixels * 3);
  const dst = [0, 1, 2].map(() => arena.alloc(pixels * 4));
  const mem = arena.commit();
  (bgr ? [2, 1, 0] : [0, 1, 2]).forEach((k, i) => mem.set(RGB_MASKS[k], masks + 16 * i));
  mem.set(data.subarray(0, pixels * 3), src);
  kernels.normalize3(src, pixels, dst[0], dst[1], dst[2], masks, scale, mean[0], std[0], mean[1], std[1], mean[2], std[2]);
  const f32 = new Float32Array(mem.buffer);
  for (let k = 0; k < 3; k++) out.set(f32.subarray(dst[k] / 4, dst[k] / 4 + pixels), planes[k]);
  return true;
}
