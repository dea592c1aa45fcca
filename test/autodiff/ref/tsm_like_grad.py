"""Gradients of the small TSM-like network of test/autodiff/backward.test.ts in PyTorch autograd: float64 (the
reference), float32 (PyTorch's own) and the fp32 rounding-error budget of each gradient element around the float64
one (test/helpers/fp32_budget.py, forward and backward roundings, Monte Carlo).

Usage: /usr/bin/python3 tsm_like_grad.py HELPERS_DIR CFG_JSON
CFG_JSON: {"T", "values": {name: {"data", "shape"}}, "labels"}; prints JSON {"fp32": G, "fp64": G, "sigma": G,
"lambda", "loss64"} with G = {name: [gradient elements]} for w1, g1, b1, wd, w2, fc.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, sys.argv[1])
from fp32_budget import ELEMENTARY_ULPS, LAMBDA, Fp32Budget, fp32  # noqa: E402

torch.set_num_threads(1)
cfg = json.load(open(sys.argv[2]))
T = cfg['T']
SAMPLES = 16
WEIGHTS = ['w1', 'g1', 'b1', 'wd', 'w2', 'fc']


class Net(nn.Module):
    """conv 3x3/2 -> BN (batch statistics) -> ReLU -> shift of channels 0-1 by one frame -> depthwise 3x3 -> BN (fixed
    statistics) -> ReLU6 -> MaxPool 3/2 -> conv 1x1 -> global average -> fc -> mean over T -> cross-entropy."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8, track_running_stats=False)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 6, 1, bias=False)
        self.fc = nn.Linear(6, 3, bias=False)

    def forward(self, clip, labels):
        x = torch.relu(self.bn1(self.conv1(clip)))
        x5 = x.view(-1, T, 8, *x.shape[2:])
        left = torch.zeros_like(x5[:, :, :2])
        left[:, :-1] = x5[:, 1:, :2]
        x = torch.cat([left, x5[:, :, 2:]], 2).view(-1, 8, *x.shape[2:])
        x = torch.clamp(self.bn2(self.dw(x)), 0, 6)
        x = self.conv2(F.max_pool2d(x, 3, 2, 1))
        x = fp32(x.mean((2, 3)), x.shape[2] * x.shape[3] + 2, lambda: x.abs().mean((2, 3)))
        y = self.fc(x).view(-1, T, 3)
        logits = fp32(y.mean(1), T + 2, lambda: y.abs().mean(1))
        loss = F.cross_entropy(logits, labels)
        spread = float((logits - logits.amax(1, keepdim=True)).abs().max())
        return fp32(loss, (ELEMENTARY_ULPS + 4 + spread + logits.shape[1] + logits.shape[0]) ** 2, loss.abs() + logits.abs().max())


def tensor(name, dtype):
    v = cfg['values'][name]
    return torch.tensor(v['data'], dtype=torch.float32).reshape(v['shape']).to(dtype)


def run(dtype, budget=None):
    net = Net().to(dtype)
    with torch.no_grad():
        net.conv1.weight.copy_(tensor('w1', dtype))
        net.bn1.weight.copy_(tensor('g1', dtype))
        net.bn1.bias.copy_(tensor('b1', dtype))
        net.dw.weight.copy_(tensor('wd', dtype))
        net.bn2.weight.fill_(1.5)
        net.bn2.bias.fill_(0.1)
        net.bn2.running_mean.fill_(0.05)
        net.bn2.running_var.fill_(0.8)
        net.conv2.weight.copy_(tensor('w2', dtype))
        net.fc.weight.copy_(tensor('fc', dtype))
    net.train()
    net.bn2.eval()
    net.bn2.weight.requires_grad = False
    net.bn2.bias.requires_grad = False
    if budget:
        budget.instrument_training(net)
    clip = tensor('clip', dtype)
    loss = net(clip, torch.tensor(cfg['labels']))
    loss.backward()
    if budget:
        with torch.no_grad():
            budget.after_backward(net, clip.shape[0])
    params = [net.conv1.weight, net.bn1.weight, net.bn1.bias, net.dw.weight, net.conv2.weight, net.fc.weight]
    return {n: p.grad.double().flatten() for n, p in zip(WEIGHTS, params)}, float(loss)


fp32_grads, _ = run(torch.float32)
exact, loss64 = run(torch.float64)
budget = Fp32Budget(0)
budget.direct = True
sq = {n: torch.zeros_like(g) for n, g in exact.items()}
for _ in range(SAMPLES):
    g, _ = run(torch.float64, budget)
    for n in sq:
        sq[n] += (g[n] - exact[n]) ** 2
print(json.dumps({
    'fp32': {n: g.tolist() for n, g in fp32_grads.items()},
    'fp64': {n: g.tolist() for n, g in exact.items()},
    'sigma': {n: torch.sqrt(s / SAMPLES).tolist() for n, s in sq.items()},
    'lambda': LAMBDA,
    'loss64': loss64,
}))
