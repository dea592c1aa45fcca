/**
 * Weight initialization for training from scratch (`--pretrain scratch`), as the original's modules do it:
 * torchvision's ResNet and archs/mobilenet_v2.py both draw conv weights from N(0, 2 / (k*k*out_channels))
 * (kaiming normal, fan_out, relu) and set BatchNorm to 1 / 0; Linear layers get N(0, 0.01) with zero bias;
 * TSN's `new_fc` gets N(0, 0.001) with zero bias (ops/models.py `_prepare_tsn`).
 */
import { BatchNorm2d, Conv2d, Linear, type Module, type Parameter } from '../nn/index.js';
import { mulberry32Normal } from '../data/random.js';
import { float32, numel } from '../tensor/index.js';

const fill = (p: Parameter, f: () => number): void => {
  p.tensor = float32(p.shape, Float32Array.from({ length: numel(p.shape) }, f));
};

/**
 * Initializes every Conv2d, BatchNorm2d and Linear of `model` in place (see the module doc), seeded.
 * @param seed @default 0
 * @returns `model`
 * @example initWeights(tsn({ numClass: 10, numSegments: 8, baseModel: 'resnet50', isShift: true }), 1);
 */
export function initWeights<M extends Module>(model: M, seed = 0): M {
  const normal = mulberry32Normal(seed);
  for (const [path, m] of model.namedModules()) {
    if (m instanceof Conv2d) {
      const [out, , kh, kw] = m.weight.shape;
      const std = Math.sqrt(2 / (kh * kw * out));
      fill(m.weight, () => normal() * std);
      if (m.bias) fill(m.bias, () => 0);
    } else if (m instanceof BatchNorm2d) {
      fill(m.weight, () => 1);
      fill(m.bias, () => 0);
    } else if (m instanceof Linear) {
      const std = path === 'new_fc' ? 0.001 : 0.01;
      fill(m.weight, () => normal() * std);
      if (m.bias) fill(m.bias, () => 0);
    }
  }
  return model;
}
