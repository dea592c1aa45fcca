/**
 * `--pretrain imagenet|scratch|PATH`: where each backbone's ImageNet weights come from, and resolving the flag to
 * a local file. Node only.
 */
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { defaultCacheDir } from './cache-dir.js';
import { ensureCached, resolveWeights, type ResolveWeightsOptions } from './resolve-weights.js';

/** Where one backbone's ImageNet weights are hosted. */
export interface ImagenetWeights {
  readonly url: string;
  /** The file name in the cache (`<cacheDir>/imagenet/<file>`). */
  readonly file: string;
  /** sha256 prefix, where the file name carries one (torchvision's convention, checked by torch.hub too). */
  readonly sha256?: string;
  /** Who publishes them, and which model's keys they fit. */
  readonly source: string;
}

const torchvision = (arch: string, hash: string): ImagenetWeights => ({
  url: `https://download.pytorch.org/models/${arch}-${hash}.pth`,
  file: `${arch}-${hash}.pth`,
  sha256: hash,
  source: `torchvision ${arch} IMAGENET1K_V1`,
});

/**
 * ImageNet weights per backbone: torchvision's ResNets (IMAGENET1K_V1, the weights the original loads through
 * `torchvision.models.resnet50(True)`), and the MobileNetV2 and BNInception files the original's `archs/` load.
 */
export const IMAGENET_WEIGHTS: Readonly<Record<string, ImagenetWeights>> = Object.freeze({
  resnet18: torchvision('resnet18', 'f37072fd'),
  resnet34: torchvision('resnet34', 'b627a593'),
  resnet50: torchvision('resnet50', '0676ba61'),
  resnet101: torchvision('resnet101', '63fe2227'),
  resnet152: torchvision('resnet152', '394f9c45'),
  // archs/mobilenet_v2.py: keys `features.N.conv.M.*`, not torchvision's mobilenet_v2 layout.
  mobilenetv2: {
    url: 'https://www.dropbox.com/s/47tyzpofuuyyv1b/mobilenetv2_1.0-f2a8633.pth.tar?dl=1',
    file: 'mobilenetv2_1.0-f2a8633.pth.tar',
    source: 'archs/mobilenet_v2.py (tonylins/pytorch-mobilenet-v2)',
  },
  BNInception: {
    url: 'https://www.dropbox.com/s/3cvod6kzwluijcw/BNInception-9baff57459f5a1744.pth?dl=1',
    file: 'BNInception-9baff57459f5a1744.pth',
    source: 'archs/bn_inception.py',
  },
});

/** What `--pretrain` resolved to. */
export type PretrainSource =
  | { readonly kind: 'scratch' }
  | { readonly kind: 'imagenet'; readonly arch: string; readonly path: string }
  | { readonly kind: 'file'; readonly path: string };

/**
 * Resolves `--pretrain`: `scratch` (random init), `imagenet` (the backbone's ImageNet weights, downloaded into
 * `<cacheDir>/imagenet/` once), or a weights spec that {@link resolveWeights} takes (a path, URL or zoo name).
 * Node only.
 * @param spec `imagenet`, `scratch`, or a path / URL / zoo name
 * @param arch the backbone (`resnet50`, `mobilenetv2`, ...), used for `imagenet`
 * @throws {UsageError} for `imagenet` with a backbone that has no ImageNet weights (lists the ones that do)
 * @throws {DownloadError} when a download fails
 * @example
 * const src = await resolvePretrain('imagenet', 'resnet50', { onProgress });
 * if (src.kind !== 'scratch') sd = extractStateDict(await readPth(src.path)).stateDict;
 */
export async function resolvePretrain(spec: string, arch: string, opts: ResolveWeightsOptions = {}): Promise<PretrainSource> {
  if (spec === 'scratch') return { kind: 'scratch' };
  if (spec !== 'imagenet') return { kind: 'file', path: await resolveWeights(spec, opts) };
  const weights = IMAGENET_WEIGHTS[arch];
  if (!weights) {
    throw new UsageError(
      `no ImageNet weights for arch: '${arch}'; pretrain: 'imagenet' works with [${Object.keys(IMAGENET_WEIGHTS).join(', ')}]; ` +
        "pass it 'scratch' or a weights PATH instead",
      { options: ['arch', 'pretrain'] },
    );
  }
  const dest = join(resolve(opts.cacheDir ?? defaultCacheDir()), 'imagenet', weights.file);
  const path = await ensureCached({ name: `${arch} ImageNet`, urls: [weights.url], sha256: weights.sha256 }, dest, opts);
  return { kind: 'imagenet', arch, path };
}
