"""Compact PyTorch reference of TSM's TSN for our parity tests (written for this repo, following the semantics of
mit-han-lab/temporal-shift-module ops/models.py, ops/temporal_shift.py, ops/non_local.py and archs/mobilenet_v2.py;
it uses torchvision's ResNets, as the original does).

Usage: /usr/bin/python3 tsm_ref.py OUT_DIR CASES_JSON
CASES_JSON is a list of {"name", "file", "tsn": {TSN kwargs}, "batch", "height", "width", "seed"}. For each case it
writes OUT_DIR/<file> (torch.save of {'epoch', 'arch', 'state_dict' with 'module.' keys, 'best_prec1'}),
OUT_DIR/<name>_input.npy, OUT_DIR/<name>_logits.npy (model.eval(), no_grad), OUT_DIR/<name>_logits64.npy (the same
model in float64), OUT_DIR/<name>_sigma.npy (the fp32 rounding-error budget of each logit, test/helpers/fp32_budget.py)
and OUT_DIR/<name>_meta.json (fp32_vs_fp64_max_abs: the float32 model's distance from the float64 one). BatchNorm
layers get random affine parameters and calibrated, perturbed running statistics so eval outputs depend on every layer.
"""
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'helpers'))
from fp32_budget import ELEMENTARY_ULPS, LAMBDA, SAMPLES, Fp32Budget, fp32  # noqa: E402

torch.set_num_threads(1)


# ---- temporal shift and pooling (ops/temporal_shift.py semantics) --------------------------------------------

def shift(x, n_segment, fold_div):
    nt, c, h, w = x.size()
    x = x.view(nt // n_segment, n_segment, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    def __init__(self, net, n_segment, n_div):
        super().__init__()
        self.net, self.n_segment, self.fold_div = net, n_segment, n_div

    def forward(self, x):
        return self.net(shift(x, self.n_segment, self.fold_div))


class TemporalPool(nn.Module):
    def __init__(self, net, n_segment):
        super().__init__()
        self.net, self.n_segment = net, n_segment

    def forward(self, x):
        nt, c, h, w = x.size()
        x = x.view(nt // self.n_segment, self.n_segment, c, h, w).transpose(1, 2)
        x = F.max_pool3d(x, kernel_size=(3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        return self.net(x.transpose(1, 2).contiguous().view(nt // 2, c, h, w))


def add_shift(net, n_segment, n_div, place, temporal_pool):
    segs = [n_segment] + [n_segment // 2 if temporal_pool else n_segment] * 3
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    n_round = 2 if (place == 'blockres' and len(net.layer3) >= 23) else 1
    for name, stage, seg in zip(['layer1', 'layer2', 'layer3', 'layer4'], stages, segs):
        blocks = list(stage.children())
        for i, b in enumerate(blocks):
            if place == 'block':
                blocks[i] = TemporalShift(b, seg, n_div)
            elif i % n_round == 0:
                b.conv1 = TemporalShift(b.conv1, seg, n_div)
        setattr(net, name, nn.Sequential(*blocks))


# ---- non-local (ops/non_local.py semantics: embedded Gaussian, sub-sampled g/phi, BN on W) ---------------------

class NonLocal3D(nn.Module):
    def __init__(self, c):
        super().__init__()
        ci = max(c // 2, 1)
        self.ci = ci
        pool = nn.MaxPool3d(kernel_size=(1, 2, 2))
        # registration order g, W, theta, phi (g and phi become Sequential(conv, pool) in place)
        self.g = nn.Sequential(nn.Conv3d(c, ci, 1), pool)
        self.W = nn.Sequential(nn.Conv3d(ci, c, 1), nn.BatchNorm3d(c))
        self.theta = nn.Conv3d(c, ci, 1)
        self.phi = nn.Sequential(nn.Conv3d(c, ci, 1), pool)

    def forward(self, x):
        n = x.size(0)
        g_x = self.g(x).view(n, self.ci, -1).permute(0, 2, 1)
        th = self.theta(x).view(n, self.ci, -1).permute(0, 2, 1)
        ph = self.phi(x).view(n, self.ci, -1)
        f = fp32(torch.matmul(th, ph), self.ci, lambda: torch.matmul(th.abs(), ph.abs()))
        # softmax: exp, its argument f - max rounded relative to |f - max|, and a sum over the row
        p = F.softmax(f, dim=-1)
        p = fp32(p, f.shape[-1] + (ELEMENTARY_ULPS + 2 + (f - f.amax(-1, keepdim=True)).abs()) ** 2, p.abs())
        y = fp32(torch.matmul(p, g_x), p.shape[-1], lambda: torch.matmul(p, g_x.abs()))
        y = y.permute(0, 2, 1).contiguous().view(n, self.ci, *x.size()[2:])
        wy = self.W(y)
        return fp32(wy + x, 1, lambda: wy.abs() + x.abs())


class NLWrap(nn.Module):
    def __init__(self, block, n_segment):
        super().__init__()
        self.block, self.n_segment = block, n_segment
        self.nl = NonLocal3D(block.bn3.num_features)

    def forward(self, x):
        x = self.block(x)
        nt, c, h, w = x.size()
        x = x.view(nt // self.n_segment, self.n_segment, c, h, w).transpose(1, 2)
        return self.nl(x).transpose(1, 2).contiguous().view(nt, c, h, w)


def add_non_local(net, n_segment):
    l2, l3 = net.layer2, net.layer3
    net.layer2 = nn.Sequential(NLWrap(l2[0], n_segment), l2[1], NLWrap(l2[2], n_segment), l2[3])
    net.layer3 = nn.Sequential(NLWrap(l3[0], n_segment), l3[1], NLWrap(l3[2], n_segment), l3[3],
                               NLWrap(l3[4], n_segment), l3[5])


# ---- MobileNetV2 in archs/mobilenet_v2.py layout -------------------------------------------------------------

def conv_bn(i, o, s):
    return nn.Sequential(nn.Conv2d(i, o, 3, s, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU6(inplace=True))


class InvRes(nn.Module):
    def __init__(self, i, o, s, t):
        super().__init__()
        h = int(i * t)
        self.use_res_connect = s == 1 and i == o
        layers = [] if t == 1 else [nn.Conv2d(i, h, 1, 1, 0, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(h, h, 3, s, 1, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6(inplace=True),
                   nn.Conv2d(h, o, 1, 1, 0, bias=False), nn.BatchNorm2d(o)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        if not self.use_res_connect:
            return self.conv(x)
        y = self.conv(x)
        return fp32(x + y, 1, lambda: x.abs() + y.abs())


class MobileNetV2(nn.Module):
    def __init__(self, n_class=1000):
        super().__init__()
        feats, c_in = [conv_bn(3, 32, 2)], 32
        for t, c, n, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
            for k in range(n):
                feats.append(InvRes(c_in, c, s if k == 0 else 1, t))
                c_in = c
        feats.append(nn.Sequential(nn.Conv2d(c_in, 1280, 1, 1, 0, bias=False), nn.BatchNorm2d(1280), nn.ReLU6(inplace=True)))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Linear(1280, n_class)

    def forward(self, x):
        f = self.features(x)
        return self.classifier(fp32(f.mean(3).mean(2), f.shape[2] * f.shape[3] + 2, lambda: f.abs().mean(3).mean(2)))


# ---- TSN (ops/models.py semantics, eval path) ----------------------------------------------------------------

class TSN(nn.Module):
    def __init__(self, num_class, num_segments, modality, base_model='resnet101', new_length=None,
                 consensus_type='avg', before_softmax=True, dropout=0.8, is_shift=False, shift_div=8,
                 shift_place='blockres', temporal_pool=False, non_local=False, **_ignored):
        super().__init__()
        self.num_segments, self.modality, self.consensus_type = num_segments, modality, consensus_type
        self.before_softmax, self.dropout = before_softmax, dropout
        self.is_shift, self.temporal_pool = is_shift, temporal_pool
        self.new_length = new_length if new_length is not None else (1 if modality == 'RGB' else 5)
        if 'resnet' in base_model:
            self.base_model = getattr(torchvision.models, base_model)()
            if is_shift:
                add_shift(self.base_model, num_segments, shift_div, shift_place, temporal_pool)
            if non_local:
                add_non_local(self.base_model, num_segments)
            last = 'fc'
            self.base_model.avgpool = nn.AdaptiveAvgPool2d(1)
        elif base_model == 'mobilenetv2':
            self.base_model = MobileNetV2()
            if is_shift:
                for m in self.base_model.modules():
                    if isinstance(m, InvRes) and len(m.conv) == 8 and m.use_res_connect:
                        m.conv[0] = TemporalShift(m.conv[0], num_segments, shift_div)
            last = 'classifier'
        else:
            raise ValueError(base_model)
        feat = getattr(self.base_model, last).in_features
        if dropout == 0:
            setattr(self.base_model, last, nn.Linear(feat, num_class))
            self.new_fc = None
        else:
            setattr(self.base_model, last, nn.Dropout(p=dropout))
            self.new_fc = nn.Linear(feat, num_class)
        if modality == 'Flow':
            first = [(n, m) for n, m in self.base_model.named_modules() if isinstance(m, nn.Conv2d)][0]
            path, conv = first
            parent = self.base_model.get_submodule(path.rsplit('.', 1)[0]) if '.' in path else self.base_model
            new = nn.Conv2d(2 * self.new_length, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                            bias=conv.bias is not None)
            setattr(parent, path.rsplit('.', 1)[-1], new)
        if temporal_pool:
            self.base_model.layer2 = TemporalPool(self.base_model.layer2, num_segments)

    def forward(self, x):
        sample_len = (3 if self.modality == 'RGB' else 2) * self.new_length
        out = self.base_model(x.view((-1, sample_len) + x.size()[-2:]))
        if self.dropout > 0:
            out = self.new_fc(out)
        if not self.before_softmax:
            spread = (out - out.amax(1, keepdim=True)).abs()
            out = F.softmax(out, dim=1)
            out = fp32(out, out.shape[1] + (ELEMENTARY_ULPS + 2 + spread) ** 2, out.abs())
        t = self.num_segments // 2 if (self.is_shift and self.temporal_pool) else self.num_segments
        out = out.view((-1, t) + out.size()[1:])
        if self.consensus_type == 'avg':
            out = fp32(out.mean(dim=1, keepdim=True), t + 2, lambda: out.abs().mean(dim=1, keepdim=True))
        return out.squeeze(1)


def scale_attention(nl, inputs):
    x = inputs[0]
    n = x.size(0)
    f = torch.matmul(nl.theta(x).view(n, nl.ci, -1).permute(0, 2, 1), nl.phi(x).view(n, nl.ci, -1))
    a = math.sqrt(2.0 / max(f.std().item(), 1e-6))
    for conv in (nl.theta, nl.phi[0]):
        conv.weight.mul_(a)
        conv.bias.mul_(a)


def randomize(model, calib):
    """Random BN affine parameters, running statistics calibrated on `calib` then perturbed; logits rescaled."""
    bns = [m for m in model.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d))]
    # attention logits (theta^T phi) rescaled to std ~2 on the way, so the softmax is neither uniform nor an argmax
    hooks = [m.register_forward_pre_hook(scale_attention) for m in model.modules() if isinstance(m, NonLocal3D)]
    with torch.no_grad():
        for bn in bns:
            bn.weight.copy_(1 + 0.1 * torch.randn_like(bn.weight))
            bn.bias.copy_(0.1 * torch.randn_like(bn.bias))
            bn.momentum = None
            bn.reset_running_stats()
        model.train()
        model(calib)
        model.eval()
        for bn in bns:
            bn.running_mean.add_(0.1 * torch.randn_like(bn.running_mean) * bn.running_var.sqrt())
            bn.running_var.mul_(torch.empty_like(bn.running_var).uniform_(0.5, 1.5))
        model(calib)
        for h in hooks:
            h.remove()
        fc = model.new_fc if model.new_fc is not None else getattr(model.base_model, 'fc', None) or model.base_model.classifier
        fc.bias.copy_(0.5 * torch.randn_like(fc.bias))
        std = model(calib).std().item()
        if std > 0:
            fc.weight.mul_(1.0 / std)


def budget_logits(model, x, seed):
    """The model in float64 on x, and the fp32 rounding-error budget (sigma) of each logit around it."""
    model64 = copy.deepcopy(model).double()
    budget = Fp32Budget(seed)
    budget.instrument(model64)
    for m in model64.modules():
        if isinstance(m, (torchvision.models.resnet.BasicBlock, torchvision.models.resnet.Bottleneck)):
            # the residual add (then an exact ReLU): one rounding
            m.register_forward_hook(lambda _m, _i, out: fp32(out, 1, out.abs))
    return budget.sigma(model64, x.double(), SAMPLES)


def main():
    out_dir, cases = sys.argv[1], json.loads(sys.argv[2])
    for case in cases:
        torch.manual_seed(case['seed'])
        kw = dict(case['tsn'])
        model = TSN(**kw)
        c = (3 if kw['modality'] == 'RGB' else 2) * model.new_length
        shape = (case['batch'], kw['num_segments'] * c, case['height'], case['width'])
        calib = torch.randn(*shape)
        randomize(model, calib)
        x = torch.randn(*shape)
        with torch.no_grad():
            logits = model(x)
        logits64, sigma = budget_logits(model, x, case['seed'])
        gap = (logits64 - logits.double()).abs().max().item()
        sd = {'module.' + k: v for k, v in model.state_dict().items()}
        torch.save({'epoch': 1, 'arch': kw['base_model'], 'state_dict': sd, 'best_prec1': 0.0},
                   os.path.join(out_dir, case['file']))
        np.save(os.path.join(out_dir, case['name'] + '_input.npy'), x.numpy().astype(np.float32))
        np.save(os.path.join(out_dir, case['name'] + '_logits.npy'), logits.numpy().astype(np.float32))
        np.save(os.path.join(out_dir, case['name'] + '_logits64.npy'), logits64.numpy())
        np.save(os.path.join(out_dir, case['name'] + '_sigma.npy'), sigma.numpy())
        with open(os.path.join(out_dir, case['name'] + '_meta.json'), 'w') as f:
            json.dump({'fp32_vs_fp64_max_abs': gap, 'logits_std': float(logits.std()), 'samples': SAMPLES, 'lambda': LAMBDA}, f)


if __name__ == '__main__':
    main()
