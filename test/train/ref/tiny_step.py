"""Training steps of the tiny networks of test/train/train-step.test.ts in PyTorch: in float32 (PyTorch's own result),
in float64 (the reference) and the fp32 rounding-error budget of every result around the float64 one.

Usage: /usr/bin/python3 tiny_step.py HELPERS_DIR CFG_JSON
CFG_JSON: {"model": "tiny" | "folded", "params": {key: {"data", "shape"}}, "policies", "lr", "wd", "clip", "shape",
"inputs", "labels"}. Prints JSON {"fp32": R, "fp64": R, "sigma": R, "lambda": LAMBDA} with R = {"loss": [..],
"norm": [..], "state": {key: [..]}, "momentum": {key: [..]}, "grads": {key: [..]}} (the last step's clipped
gradients).

The budget (test/helpers/fp32_budget.py) perturbs, in float64 runs, every fp32 rounding of the step: the forward's
convolutions, Linear and BatchNorm (with their batch statistics and running averages), the spatial mean and the loss;
the backward's input gradients (k = the fan-out each sums) and parameter gradients (k = batch x positions); the
gradient norm used for clipping; and the SGD update of parameters and momentum buffers. Backward and update
perturbations are relative to the result: the per-tensor median floor applied by the test covers elements whose
value cancels to near zero.
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
SAMPLES = 16  # each a full run of the steps of a tiny network: cheap


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.conv3 = nn.Conv2d(4, 6, 1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.clamp(self.bn2(self.conv2(y)), 0, 6)
        return self.fc(spatial_mean(self.conv3(y)))


class Folded(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.clamp(self.bn2(self.conv2(y)), 0, 6)
        return self.fc(spatial_mean(y))


def spatial_mean(y):
    return fp32(y.mean(3).mean(2), y.shape[2] * y.shape[3] + 2, lambda: y.abs().mean(3).mean(2))


def build(dtype):
    m = Tiny() if cfg['model'] == 'tiny' else Folded()
    sd = m.state_dict()
    for k, v in cfg['params'].items():
        sd[k].copy_(torch.tensor(v['data']).reshape(v['shape']))
    m.to(dtype)
    m.train()
    if cfg['model'] == 'folded':
        for bn in (m.bn1, m.bn2):
            bn.eval()
            bn.weight.requires_grad = False
            bn.bias.requires_grad = False
        return m, torch.optim.SGD([p for p in m.parameters() if p.requires_grad], cfg['lr'], momentum=0.9, weight_decay=cfg['wd'])
    if cfg['policies']:
        m.bn2.eval()
        m.bn2.weight.requires_grad = False
        m.bn2.bias.requires_grad = False
        groups = [
            {'params': [m.conv1.weight], 'lr_mult': 1, 'decay_mult': 1},
            {'params': [m.conv1.bias], 'lr_mult': 2, 'decay_mult': 0},
            {'params': [m.conv2.weight, m.conv3.weight], 'lr_mult': 1, 'decay_mult': 1},
            {'params': [m.conv3.bias], 'lr_mult': 2, 'decay_mult': 0},
            {'params': [m.bn1.weight, m.bn1.bias], 'lr_mult': 1, 'decay_mult': 0},
            {'params': [], 'lr_mult': 1, 'decay_mult': 1},
            {'params': [m.fc.weight], 'lr_mult': 5, 'decay_mult': 1},
            {'params': [m.fc.bias], 'lr_mult': 10, 'decay_mult': 0},
        ]
        opt = torch.optim.SGD(groups, cfg['lr'], momentum=0.9, weight_decay=cfg['wd'])
        for g in opt.param_groups:
            g['lr'] = cfg['lr'] * g['lr_mult']
            g['weight_decay'] = cfg['wd'] * g['decay_mult']
        return m, opt
    return m, torch.optim.SGD(m.parameters(), cfg['lr'], momentum=0.9, weight_decay=cfg['wd'])


def run(dtype, budget=None):
    m, opt = build(dtype)
    if budget:
        budget.instrument_training(m)
    params = [p for p in m.parameters() if p.requires_grad]
    out = {'loss': [], 'norm': []}
    for x, y in zip(cfg['inputs'], cfg['labels']):
        x = torch.tensor(x, dtype=torch.float32).reshape(cfg['shape']).to(dtype)
        logits = m(x)
        # log-softmax and the mean over the batch: exp, log and a sum over the classes per sample
        spread = (logits - logits.amax(1, keepdim=True)).abs().max()
        loss = nn.CrossEntropyLoss()(logits, torch.tensor(y))
        loss = fp32(loss, (ELEMENTARY_ULPS + 4 + spread + logits.shape[1] + logits.shape[0]) ** 2, loss.abs() + logits.abs().max())
        opt.zero_grad()
        loss.backward()
        with torch.no_grad():
            if budget:
                budget.after_backward(m, x.shape[0])
            # torch.nn.utils.clip_grad_norm_, with the norm's own rounding (a sum of squares of every element)
            total = torch.stack([p.grad.norm() for p in params]).norm()
            total = fp32(total, sum(p.numel() for p in params) + 2, total)
            coef = min(1.0, cfg['clip'] / (float(total) + 1e-6))
            for p in params:
                p.grad.mul_(coef)
                p.grad.copy_(fp32(p.grad, 1, p.grad.abs()))
        opt.step()
        with torch.no_grad():
            # d = g + wd p; buf = 0.9 buf + d; p -= lr buf: at most 3 roundings each
            for p in params:
                buf = opt.state[p]['momentum_buffer']
                buf.copy_(fp32(buf, 9, 2 * buf.abs() + p.grad.abs()))
                lr = next(g['lr'] for g in opt.param_groups if any(q is p for q in g['params']))
                p.copy_(fp32(p, 9, p.abs() + lr * buf.abs()))
        out['loss'].append(loss.item())
        out['norm'].append(total.item())
    out['state'] = {k: v.double().flatten() for k, v in m.state_dict().items()}
    out['momentum'] = {n: opt.state[p]['momentum_buffer'].flatten() for n, p in m.named_parameters() if p in opt.state}
    out['grads'] = {n: p.grad.flatten() for n, p in m.named_parameters() if p.grad is not None}
    return out


def plain(r):
    return {k: (v if isinstance(v, list) else {n: t.tolist() for n, t in v.items()}) for k, v in r.items()}


fp32_result = run(torch.float32)
exact = run(torch.float64)
budget = Fp32Budget(0)
budget.direct = True
sq = None
for _ in range(SAMPLES):
    r = run(torch.float64, budget)
    d = {
        'loss': [(a - b) ** 2 for a, b in zip(r['loss'], exact['loss'])],
        'norm': [(a - b) ** 2 for a, b in zip(r['norm'], exact['norm'])],
        **{g: {n: (r[g][n] - t) ** 2 for n, t in exact[g].items()} for g in ('state', 'momentum', 'grads')},
    }
    if sq is None:
        sq = d
    else:
        sq = {k: ([a + b for a, b in zip(sq[k], v)] if isinstance(v, list) else {n: sq[k][n] + t for n, t in v.items()}) for k, v in d.items()}
sigma = {k: ([(a / SAMPLES) ** 0.5 for a in v] if isinstance(v, list) else {n: torch.sqrt(t / SAMPLES) for n, t in v.items()}) for k, v in sq.items()}
print(json.dumps({'fp32': plain(fp32_result), 'fp64': plain(exact), 'sigma': plain(sigma), 'lambda': LAMBDA}))
