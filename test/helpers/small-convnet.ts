/**
 * A small network with every layer kind a TSM training step treats specially: conv (bias) - BN - ReLU - depthwise
 * conv - BN - ReLU6 - 1x1 conv (bias) - GAP - fc. test/train/ref builds the same layers in PyTorch.
 */
import type { GraphBuilder, Value } from '../../src/graph/index.js';
import { BatchNorm2d, Conv2d, Linear, Module } from '../../src/nn/index.js';

export class SmallConvNet extends Module {
  readonly conv1: Conv2d;
  readonly bn1: BatchNorm2d;
  readonly conv2: Conv2d;
  readonly bn2: BatchNorm2d;
  readonly conv3: Conv2d;
  readonly fc: Linear;

  /** @param width channels of the first two convs; the 1x1 conv gives 6, the classifier `classes` */
  constructor(width: number, classes: number) {
    super();
    this.conv1 = new Conv2d(3, width, { kernelSize: 3, padding: 1 });
    this.bn1 = new BatchNorm2d(width);
    this.conv2 = new Conv2d(width, width, { kernelSize: 3, stride: 2, padding: 1, groups: width, bias: false });
    this.bn2 = new BatchNorm2d(width);
    this.conv3 = new Conv2d(width, 6, { kernelSize: 1 });
    this.fc = new Linear(6, classes);
  }

  forward(g: GraphBuilder, x: Value): Value {
    let y = g.relu(this.bn1.forward(g, this.conv1.forward(g, x)));
    y = g.clip(this.bn2.forward(g, this.conv2.forward(g, y)), 0, 6);
    y = g.flatten(g.globalAveragePool(this.conv3.forward(g, y)), 1);
    return this.fc.forward(g, y);
  }
}
