/**
 * Fast JPEG decoding through libjpeg-turbo (`@julusian/jpeg-turbo`, an optional dependency with prebuilt binaries in
 * its npm package). Frame folders are almost all JPEG, and at video frame sizes (340x256) a sharp call costs ~1.5 ms
 * where this needs ~0.4 ms: the rest is libvips' pipeline set-up and the hop to its thread pool. The binding always
 * decodes with libjpeg-turbo's fast integer IDCT (TJFLAG_FASTDCT), so pixels differ from PIL's accurate IDCT by a
 * few levels: fine for training augmentation, not for exact evaluation (see `decodeImage`'s `fast`).
 * Decoding is synchronous on purpose: loader workers are threads of their own, and a hop would only add latency.
 * Node only.
 */
import { createRequire } from 'node:module';

interface JpegTurboBinding {
  readonly FORMAT_RGB: number;
  decompressSync(buf: Buffer, options: { format: number }): { data: Buffer; width: number; height: number };
}

function loadBinding(): JpegTurboBinding | undefined {
  try {
    return createRequire(import.meta.url)('@julusian/jpeg-turbo') as JpegTurboBinding;
  } catch {
    // NOTE: optional: a platform without a prebuilt binary falls back to sharp, which decodes the same pixels
    return undefined;
  }
}

const binding = loadBinding();

/** Whether the libjpeg-turbo fast path is installed on this machine. */
export const hasFastJpeg = binding !== undefined;

/** JPEG files start with an SOI marker followed by another marker. */
function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/**
 * Decodes a JPEG to interleaved RGB (fast integer IDCT, fancy upsampling).
 * @returns undefined when the fast path is not installed or libjpeg-turbo refuses the data (truncated, CMYK, ...);
 *   the caller then decodes with sharp, which also gives the error a message (libjpeg-turbo's binding reports none)
 */
export function decodeJpegFast(bytes: Buffer): { data: Uint8Array; width: number; height: number } | undefined {
  if (!binding || !isJpeg(bytes)) return undefined;
  try {
    const { data, width, height } = binding.decompressSync(bytes, { format: binding.FORMAT_RGB });
    return { data: new Uint8Array(data.buffer, data.byteOffset, width * height * 3), width, height };
  } catch {
    return undefined;
  }
}
