"""fp32 rounding-error budget of one TSM-MobileNetV2 training step, by Monte Carlo arithmetic in float64.

Usage: /usr/bin/python3 fp32_error_bound.py REF_DIR FIXTURE_DIR CASE_JSON OUT_DIR SAMPLES

Writes, for every key of the case's `clipped_grads`:
  OUT_DIR/64_<key>.npy      the clipped gradient computed in float64 (the reference)
  OUT_DIR/32_<key>.npy      PyTorch's own float32 result (reported next to ours, not used as a bound)
and OUT_DIR/bound.json: {key: sigma}, the root mean square relative L2 distance from the float64 gradient over
SAMPLES float64 runs in which every rounding an fp32 implementation makes is replaced by a random relative
perturbation of its expected size.

Why this is the fp32 error of the computation and not of one machine's kernels: the float64 run is exact to ~1e-16
here, so the perturbed runs differ from it only by the injected errors, which model any fp32 implementation that
rounds each result and accumulates each reduction of length K in fp32. The probabilistic bound for such a sum
(Higham and Mary, SIAM J. Sci. Comput. 41(5), 2019) is an error of about sqrt(K) * u relative to the result, with
u = 2**-24 the unit roundoff, whatever the order of summation or the SIMD block width; the propagation through the
network (its conditioning: the early convolutions' gradients are ill-conditioned) is then measured, not assumed.
Perturbed: every Conv2d, BatchNorm2d and Linear output (K = fan-in, N*H*W for batch statistics), the spatial and
segment means, each module's input gradient (K = fan-out), every parameter gradient (K = the reduction over batch
and positions) and the total norm used for clipping (K = number of parameters).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, sys.argv[1])
import tsm_ref  # noqa: E402

torch.set_num_threads(2)
U = 2.0 ** -24
ref_dir, fx_dir, case, out_dir, samples = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], int(sys.argv[5])
sd = {k[len('module.'):]: v for k, v in torch.load(os.path.join(fx_dir, 'tsm_mobilenetv2.pth'), map_location='cpu')['state_dict'].items()}
x = torch.from_numpy(np.load(os.path.join(fx_dir, case['files']['input'])))
y = torch.from_numpy(np.load(os.path.join(fx_dir, case['files']['labels'])))
keys = [k[len('module.'):] for k in case['files']['clipped_grads']]
gen = torch.Generator().manual_seed(0)


def jitter(t, k):
    """t * (1 + sqrt(k) * u * z), z standard normal: the rounding error of a length-k fp32 reduction."""
    if not sample_noise:
        return t
    z = torch.randn(t.shape, generator=gen, dtype=t.dtype)
    return t * (1 + math.sqrt(k) * U * z)


def fan_in(m, out):
    if isinstance(m, nn.Conv2d):
        return m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
    if isinstance(m, nn.Linear):
        return m.in_features
    return out.numel() // out.shape[1]  # BatchNorm2d in train mode: statistics over N*H*W


def fan_out(m, grad):
    if isinstance(m, nn.Conv2d):
        return m.out_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
    if isinstance(m, nn.Linear):
        return m.out_features
    return grad.numel() // grad.shape[1]


def grad_reduction(m, p):
    """Length of the sum that produces p's gradient: batch times output positions."""
    return max(1, seen[m] // (p.shape[0] if p.dim() > 0 else 1))


def build(dtype):
    net = tsm_ref.TSN(27, 8, 'RGB', base_model='mobilenetv2', is_shift=True)
    net.load_state_dict(sd)
    net = net.to(dtype)
    net.train()
    net.base_model.classifier.eval()
    return net


seen = {}


def instrument(net):
    for m in net.modules():
        if isinstance(m, nn.ReLU6):
            m.inplace = False  # full backward hooks forbid in-place ops on their outputs
        if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear)):
            def fwd(mod, _inp, out):
                seen[mod] = out.numel()
                return jitter(out, fan_in(mod, out))

            def bwd(mod, grad_in, _grad_out):
                return tuple(None if g is None else jitter(g, fan_out(mod, g)) for g in grad_in)

            m.register_forward_hook(fwd)
            m.register_full_backward_hook(bwd)
    # the spatial mean of MobileNetV2.forward (7x7) and the segment consensus of TSN.forward
    net.base_model.register_forward_hook(lambda _m, _i, out: jitter(out, 49))
    net.register_forward_hook(lambda _m, _i, out: jitter(out, net.num_segments))


def clipped_grads(net):
    nn.CrossEntropyLoss()(net(x.to(next(net.parameters()).dtype)), y).backward()
    owner = {p: m for m in net.modules() for p in m.parameters(recurse=False)}
    params = [p for p in net.parameters() if p.grad is not None]
    grads = [jitter(p.grad, grad_reduction(owner[p], p)) if owner[p] in seen else p.grad for p in params]
    total = jitter(torch.sqrt(sum((g * g).sum() for g in grads)), sum(g.numel() for g in grads))
    coef = min(1.0, case['clip_max_norm'] / (float(total) + 1e-6))
    named = dict(net.named_parameters())
    by_param = {p: g * coef for p, g in zip(params, grads)}
    return {k: by_param[named[k]].double().numpy() for k in keys}


sample_noise = False
exact = clipped_grads(build(torch.float64))
fp32 = clipped_grads(build(torch.float32))
for k in keys:
    np.save(os.path.join(out_dir, f'64_{k}.npy'), exact[k])
    np.save(os.path.join(out_dir, f'32_{k}.npy'), fp32[k])
sample_noise = True
sq = {k: 0.0 for k in keys}
for _ in range(samples):
    net = build(torch.float64)
    instrument(net)
    g = clipped_grads(net)
    for k in keys:
        sq[k] += float(np.sum((g[k] - exact[k]) ** 2) / np.sum(exact[k] ** 2))
with open(os.path.join(out_dir, 'bound.json'), 'w') as f:
    json.dump({k: math.sqrt(v / samples) for k, v in sq.items()}, f)
