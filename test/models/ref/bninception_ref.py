"""PyTorch reference for BN-Inception as TSM's archs/bn_inception.py, for test/models/bn-inception.test.ts.

Written from a reading of the original layout (flat layer names, conv -> BN(eps=1e-5, momentum=0.9) -> in-place
ReLU, ceil_mode pools, AvgPool2d(7) global pool) and of build_temporal_ops / TemporalShift.shift for the shift.

usage: /usr/bin/python3 bninception_ref.py OUT_DIR [--seed S] [--num-classes K] [--n-segment T]
Writes to OUT_DIR: state_dict.pth (plain state dict, random weights), input_plain.npy [1,3,224,224] and
logits_plain.npy, input_shift.npy [T,3,224,224] and logits_shift.npy ('block' shift, fold div 8), sigma_plain.npy and
sigma_shift.npy (the fp32 rounding-error budget of each logit, test/helpers/fp32_budget.py), meta.json.
Logits are computed (and saved) in float64 from the float32 weights and inputs.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'helpers'))
from fp32_budget import LAMBDA, SAMPLES, Fp32Budget  # noqa: E402

# name, in, 1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool kind, pool proj (0 = none)
BLOCKS = [
    ('3a', 192, 64, 64, 64, 64, 96, 'avg', 32),
    ('3b', 256, 64, 64, 96, 64, 96, 'avg', 64),
    ('3c', 320, 0, 128, 160, 64, 96, 'max_s2', 0),
    ('4a', 576, 224, 64, 96, 96, 128, 'avg', 128),
    ('4b', 576, 192, 96, 128, 96, 128, 'avg', 128),
    ('4c', 576, 160, 128, 160, 128, 160, 'avg', 128),
    ('4d', 608, 96, 128, 192, 160, 192, 'avg', 128),
    ('4e', 608, 0, 128, 192, 192, 256, 'max_s2', 0),
    ('5a', 1056, 352, 192, 320, 160, 224, 'avg', 128),
    ('5b', 1024, 352, 192, 320, 192, 224, 'max_s1', 128),
]


def temporal_shift(x, n_segment, fold_div):
    """ops/temporal_shift.py TemporalShift.shift (out of place)."""
    nt, c, h, w = x.size()
    x = x.view(nt // n_segment, n_segment, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


class RefBNInception(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self._cbr('conv1_7x7_s2', 'conv1_relu_7x7', 3, 64, 7, 2, 3)
        self.pool1_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self._cbr('conv2_3x3_reduce', 'conv2_relu_3x3_reduce', 64, 64, 1)
        self._cbr('conv2_3x3', 'conv2_relu_3x3', 64, 192, 3, 1, 1)
        self.pool2_3x3_s2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, cin, c1, c3r, c3, cdr, cd, pool, proj in BLOCKS:
            p = 'inception_' + name
            s = 2 if pool == 'max_s2' else 1
            if c1:
                self._cbr(p + '_1x1', p + '_relu_1x1', cin, c1, 1)
            self._cbr(p + '_3x3_reduce', p + '_relu_3x3_reduce', cin, c3r, 1)
            self._cbr(p + '_3x3', p + '_relu_3x3', c3r, c3, 3, s, 1)
            self._cbr(p + '_double_3x3_reduce', p + '_relu_double_3x3_reduce', cin, cdr, 1)
            self._cbr(p + '_double_3x3_1', p + '_relu_double_3x3_1', cdr, cd, 3, 1, 1)
            self._cbr(p + '_double_3x3_2', p + '_relu_double_3x3_2', cd, cd, 3, s, 1)
            if pool == 'avg':
                layer = nn.AvgPool2d(3, stride=1, padding=1, ceil_mode=True, count_include_pad=True)
            elif pool == 'max_s2':
                layer = nn.MaxPool2d(3, stride=2, ceil_mode=True)
            else:
                layer = nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True)
            setattr(self, p + '_pool', layer)
            if proj:
                self._cbr(p + '_pool_proj', p + '_relu_pool_proj', cin, proj, 1)
        self.global_pool = nn.AvgPool2d(7, stride=1, padding=0, ceil_mode=True, count_include_pad=True)
        self.fc = nn.Linear(1024, num_classes)
        self.shift_mask = '0' * 12
        self.n_segment = 1
        self.fold_div = 8

    def _cbr(self, name, relu_name, cin, cout, k, stride=1, pad=0):
        setattr(self, name, nn.Conv2d(cin, cout, kernel_size=k, stride=stride, padding=pad))
        setattr(self, name + '_bn', nn.BatchNorm2d(cout, eps=1e-05, momentum=0.9, affine=True))
        setattr(self, relu_name, nn.ReLU(True))

    def _run(self, name, x):
        # conv -> bn -> in-place relu, so what flows on is the rectified BN output (as in the original)
        x = getattr(self, name + '_bn')(getattr(self, name)(x))
        return F.relu(x, inplace=True)

    def _block(self, index, x):
        if index == 0:
            return self.pool1_3x3_s2(self._run('conv1_7x7_s2', x))
        if index == 1:
            return self.pool2_3x3_s2(self._run('conv2_3x3', self._run('conv2_3x3_reduce', x)))
        name, _, c1, _, _, _, _, _, proj = BLOCKS[index - 2]
        p = 'inception_' + name
        outs = []
        if c1:
            outs.append(self._run(p + '_1x1', x))
        outs.append(self._run(p + '_3x3', self._run(p + '_3x3_reduce', x)))
        outs.append(self._run(p + '_double_3x3_2', self._run(p + '_double_3x3_1', self._run(p + '_double_3x3_reduce', x))))
        pooled = getattr(self, p + '_pool')(x)
        outs.append(self._run(p + '_pool_proj', pooled) if proj else pooled)
        return torch.cat(outs, 1)

    def forward(self, x):
        for i in range(12):
            if self.shift_mask[i] == '1':
                x = temporal_shift(x, self.n_segment, self.fold_div)
            x = self._block(i, x)
        x = self.global_pool(x)
        return self.fc(x.view(x.size(0), -1))


def randomize(model, gen):
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(7)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * 0.03)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('--seed', type=int, default=20240611)
    ap.add_argument('--num-classes', type=int, default=10)
    ap.add_argument('--n-segment', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(args.seed)
    model = RefBNInception(args.num_classes)
    randomize(model, gen)
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, 'state_dict.pth'))

    # BGR 0-255 minus the BNInception mean, as TSN feeds it
    mean = torch.tensor([104.0, 117.0, 128.0]).view(1, 3, 1, 1)
    x_plain = torch.rand((1, 3, 224, 224), generator=gen) * 255 - mean
    x_shift = torch.rand((args.n_segment, 3, 224, 224), generator=gen) * 255 - mean
    model64 = model.double()
    budget = Fp32Budget(args.seed)
    budget.instrument(model64)
    logits_plain, sigma_plain = budget.sigma(model64, x_plain.double(), SAMPLES)
    model64.shift_mask, model64.n_segment, model64.fold_div = '0' + '1' * 11, args.n_segment, 8
    logits_shift, sigma_shift = budget.sigma(model64, x_shift.double(), SAMPLES)
    np.save(os.path.join(args.out, 'input_plain.npy'), x_plain.numpy().astype(np.float32))
    np.save(os.path.join(args.out, 'logits_plain.npy'), logits_plain.numpy())
    np.save(os.path.join(args.out, 'sigma_plain.npy'), sigma_plain.numpy())
    np.save(os.path.join(args.out, 'input_shift.npy'), x_shift.numpy().astype(np.float32))
    np.save(os.path.join(args.out, 'logits_shift.npy'), logits_shift.numpy())
    np.save(os.path.join(args.out, 'sigma_shift.npy'), sigma_shift.numpy())
    keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    with open(os.path.join(args.out, 'meta.json'), 'w') as f:
        json.dump({'num_classes': args.num_classes, 'n_segment': args.n_segment, 'keys': keys, 'lambda': LAMBDA}, f)


if __name__ == '__main__':
    main()
