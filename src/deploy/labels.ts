/**
 * Class names the deployment code falls back on. Browser-safe (no Node imports).
 */

/**
 * The 27 Jester gestures, in class order, as `catigories` in the original `online_demo/main.py`. The online
 * demo's checkpoint (`mobilenetv2_jester_online.pth.tar`) is trained on them, so a 27-class online model with no
 * labels of its own gets these.
 */
export const JESTER_LABELS: readonly string[] = Object.freeze([
  'Doing other things', // 0
  'Drumming Fingers', // 1
  'No gesture', // 2
  'Pulling Hand In', // 3
  'Pulling Two Fingers In', // 4
  'Pushing Hand Away', // 5
  'Pushing Two Fingers Away', // 6
  'Rolling Hand Backward', // 7
  'Rolling Hand Forward', // 8
  'Shaking Hand', // 9
  'Sliding Two Fingers Down', // 10
  'Sliding Two Fingers Left', // 11
  'Sliding Two Fingers Right', // 12
  'Sliding Two Fingers Up', // 13
  'Stop Sign', // 14
  'Swiping Down', // 15
  'Swiping Left', // 16
  'Swiping Right', // 17
  'Swiping Up', // 18
  'Thumb Down', // 19
  'Thumb Up', // 20
  'Turning Hand Clockwise', // 21
  'Turning Hand Counterclockwise', // 22
  'Zooming In With Full Hand', // 23
  'Zooming In With Two Fingers', // 24
  'Zooming Out With Full Hand', // 25
  'Zooming Out With Two Fingers', // 26
]);

/** `class 0`, `class 1`, ... for a model without labels. */
export const numberedLabels = (numClasses: number): string[] => Array.from({ length: numClasses }, (_, i) => `class ${i}`);

/** True when `labels` are exactly {@link JESTER_LABELS}. */
export const isJesterLabels = (labels: readonly string[]): boolean =>
  labels.length === JESTER_LABELS.length && labels.every((l, i) => l === JESTER_LABELS[i]);
