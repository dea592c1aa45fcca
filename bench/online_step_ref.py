"""PyTorch reference for bench/online-step.ts: per-frame latency of the online TSM-MobileNetV2 on CPU.

The model is written from the layout of mit-han-lab/temporal-shift-module online_demo/mobilenet_v2_tsm.py
(MobileNetV2 with InvertedResidualWithShift in blocks [2,4,5,7,8,9,11,12,14,15]: cat(buffer, x[:, c//8:]) through
the block, x[:, :c//8] out as the next buffer). Weights are seeded random, saved so the Node side runs the same model.

usage: /usr/bin/python3 bench/online_step_ref.py OUT_DIR [--size 224] [--threads 2] [--steps 100] [--warmup 10]
Writes OUT_DIR/state_dict.pth, frames.npy [S,1,3,H,W], logits.npy [S,27]; prints one JSON line with ms_per_frame.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn

SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
SHIFT_BLOCKS = {2, 4, 5, 7, 8, 9, 11, 12, 14, 15}


def block_conv(inp, oup, stride, t):
    hidden = inp * t
    layers = [] if t == 1 else [nn.Conv2d(inp, hidden, 1, 1, 0, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(True)]
    layers += [nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(True),
               nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup)]
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, inp, oup, stride, t, shift):
        super().__init__()
        self.res = stride == 1 and inp == oup
        self.shift = shift
        self.conv = block_conv(inp, oup, stride, t)

    def forward(self, x, buf=None):
        if self.shift:
            c = x.size(1)
            return x + self.conv(torch.cat((buf, x[:, c // 8:]), 1)), x[:, :c // 8]
        return x + self.conv(x) if self.res else self.conv(x)


class OnlineMobileNetV2(nn.Module):
    def __init__(self, n_class):
        super().__init__()
        feats = [nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(True))]
        cin, idx = 32, 0
        for t, c, n, s in SETTING:
            for i in range(n):
                feats.append(Block(cin, c, s if i == 0 else 1, t, idx in SHIFT_BLOCKS))
                cin, idx = c, idx + 1
        feats.append(nn.Sequential(nn.Conv2d(cin, 1280, 1, 1, 0, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(True)))
        self.features = nn.ModuleList(feats)
        self.classifier = nn.Linear(1280, n_class)

    def forward(self, x, *buffers):
        out, k = [], 0
        for f in self.features:
            if isinstance(f, Block) and f.shift:
                x, b = f(x, buffers[k])
                out.append(b)
                k += 1
            else:
                x = f(x)
        return (self.classifier(x.mean(3).mean(2)), *out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=100)
    ap.add_argument('--warmup', type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = OnlineMobileNetV2(27)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
            elif isinstance(m, nn.Linear):
                m.weight.normal_(0, 0.01)
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, 'state_dict.pth'))

    h = w = args.size
    frames = torch.randn(args.steps, 1, 3, h, w)
    with torch.no_grad():
        # buffer shapes from a dry run of the feature extractor
        shapes = []
        probe = model.features[0](torch.zeros(1, 3, h, w))
        for f in model.features[1:-1]:
            if f.shift:
                shapes.append((1, probe.size(1) // 8, probe.size(2), probe.size(3)))
                probe, _ = f(probe, torch.zeros(shapes[-1]))
            else:
                probe = f(probe)
        buffers = [torch.zeros(s) for s in shapes]
        for i in range(args.warmup):
            model(frames[i % args.steps], *buffers)
        buffers = [torch.zeros(s) for s in shapes]
        logits = []
        t0 = time.perf_counter()
        for i in range(args.steps):
            y, *buffers = model(frames[i], *buffers)
            logits.append(y)
        seconds = time.perf_counter() - t0
    np.save(os.path.join(args.out, 'frames.npy'), frames.numpy())
    np.save(os.path.join(args.out, 'logits.npy'), torch.cat(logits).numpy())
    print(json.dumps({'ms_per_frame': seconds * 1000 / args.steps, 'steps': args.steps, 'threads': args.threads,
                      'size': args.size, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
