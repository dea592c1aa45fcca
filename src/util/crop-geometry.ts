/**
 * The size and offset arithmetic of torchvision's `Resize(int)` and `CenterCrop`, shared by the data pipeline and
 * the browser-safe deploy preprocessing (so it lives outside src/data, which the page must not import). Pure
 * functions: no Node or DOM imports.
 */

/** Python 3's `round` (halves to even), which torchvision's `center_crop` uses for its offsets. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Size after torchvision `Resize(size)` with an int: the shorter side becomes `size`, the longer one truncates. */
export function scaledSize(width: number, height: number, size: number): { width: number; height: number } {
  if (width <= height) return { width: size, height: Math.trunc((size * height) / width) };
  return { width: Math.trunc((size * width) / height), height: size };
}

/** Top-left corner of a `cropWidth` x `cropHeight` center crop of a `width` x `height` image, as torchvision's. */
export function centerCropOffset(width: number, height: number, cropWidth: number, cropHeight: number): { left: number; top: number } {
  return { left: roundHalfEven((width - cropWidth) / 2), top: roundHalfEven((height - cropHeight) / 2) };
}
