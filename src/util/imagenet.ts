/** ImageNet statistics: the RGB normalisation of every backbone TSM uses but BN-Inception. Browser-safe. */

/** Channel means over 0-1 RGB, as torchvision's pretrained models and the original `GroupNormalize` use. */
export const IMAGENET_MEAN: readonly number[] = Object.freeze([0.485, 0.456, 0.406]);
/** Channel standard deviations; see {@link IMAGENET_MEAN}. */
export const IMAGENET_STD: readonly number[] = Object.freeze([0.229, 0.224, 0.225]);
