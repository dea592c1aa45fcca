"""PyTorch reference for bench/train-step.ts: one TSM training step on CPU, as main.py runs it.

The model is test/models/ref/tsm_ref.py's TSN (TSM ops/models.py semantics: shift in every residual branch,
`new_fc`, avg consensus), seeded random weights. The step follows main.py's train(): partial BN (every BatchNorm2d
but the first in eval mode with frozen scale/shift), SGD over get_optim_policies() groups with momentum 0.9 and
weight decay 5e-4, CrossEntropyLoss, clip_grad_norm_(20). The classifier's Dropout is put in eval mode so both
sides compute the same first loss.

usage: /usr/bin/python3 bench/train_step_ref.py OUT_DIR --arch mobilenetv2 [--size 112] [--segments 8] [--batch 2]
       [--threads 2] [--steps 5] [--warmup 2] [--load]
Writes OUT_DIR/<arch>.pth (module.-prefixed state dict), <arch>_input.npy, <arch>_labels.npy, or with --load reads
them (so a second PyTorch, e.g. the official wheel, steps the same weights and batch); prints one JSON line: median
and min wall ms per step, median CPU ms per step (all threads), the first loss, peak RSS and the RSS after each step.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'models', 'ref'))
import torch_compat  # noqa: E402  (first: imports torchvision where only its CUDA build is installed)
import tsm_ref  # noqa: E402


def policies(model):
    """TSN.get_optim_policies() with partial BN on and fc_lr5 off."""
    fcw, fcb, nw, nb, bn = [], [], [], [], []
    conv_cnt = bn_cnt = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            ps = list(m.parameters())
            conv_cnt += 1
            (fcw if conv_cnt == 1 else nw).append(ps[0])
            if len(ps) == 2:
                (fcb if conv_cnt == 1 else nb).append(ps[1])
        elif isinstance(m, nn.Linear):
            ps = list(m.parameters())
            nw.append(ps[0])
            if len(ps) == 2:
                nb.append(ps[1])
        elif isinstance(m, nn.BatchNorm2d):
            bn_cnt += 1
            if bn_cnt == 1:
                bn.extend(list(m.parameters()))
    return [
        {'params': fcw, 'lr_mult': 1, 'decay_mult': 1}, {'params': fcb, 'lr_mult': 2, 'decay_mult': 0},
        {'params': nw, 'lr_mult': 1, 'decay_mult': 1}, {'params': nb, 'lr_mult': 2, 'decay_mult': 0},
        {'params': bn, 'lr_mult': 1, 'decay_mult': 0},
    ]


def train_mode(model):
    """TSN.train() with partial BN."""
    model.train()
    count = 0
    for m in model.base_model.modules():
        if isinstance(m, nn.BatchNorm2d):
            count += 1
            if count >= 2:
                m.eval()
                m.weight.requires_grad = False
                m.bias.requires_grad = False


def rss_mb():
    """(current, peak) resident set size in MB, from /proc/self/status."""
    with open('/proc/self/status') as f:
        status = dict(line.split(':', 1) for line in f if ':' in line)
    return int(status['VmRSS'].split()[0]) / 1024, int(status['VmHWM'].split()[0]) / 1024


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out_dir')
    p.add_argument('--arch', default='mobilenetv2')
    p.add_argument('--size', type=int, default=112)
    p.add_argument('--segments', type=int, default=8)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--classes', type=int, default=174)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--load', action='store_true')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = tsm_ref.TSN(a.classes, a.segments, 'RGB', base_model=a.arch, is_shift=True)
    files = [os.path.join(a.out_dir, a.arch + suffix) for suffix in ('.pth', '_input.npy', '_labels.npy')]
    if a.load:
        sd = torch.load(files[0], map_location='cpu')['state_dict']
        model.load_state_dict({k[len('module.'):]: v for k, v in sd.items()})
        x = torch.from_numpy(np.load(files[1]))
        y = torch.from_numpy(np.load(files[2]))
    else:
        torch.save({'epoch': 1, 'arch': a.arch, 'state_dict': {'module.' + k: v for k, v in model.state_dict().items()}, 'best_prec1': 0.0}, files[0])
        x = torch.randn(a.batch, a.segments * 3, a.size, a.size)
        y = torch.randint(0, a.classes, (a.batch,))
        np.save(files[1], x.numpy())
        np.save(files[2], y.numpy())

    train_mode(model)
    getattr(model.base_model, 'fc' if 'resnet' in a.arch else 'classifier').eval()
    opt = torch.optim.SGD(policies(model), 0.01, momentum=0.9, weight_decay=5e-4)
    for g in opt.param_groups:
        g['lr'] = 0.01 * g['lr_mult']
        g['weight_decay'] = 5e-4 * g['decay_mult']
    crit = nn.CrossEntropyLoss()
    times, cpu, rss, first_loss = [], [], [], None
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        c0 = time.process_time()
        loss = crit(model(x), y)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 20)
        opt.step()
        dt = (time.perf_counter() - t0) * 1000
        dc = (time.process_time() - c0) * 1000
        rss.append(rss_mb()[0])
        if first_loss is None:
            first_loss = float(loss)
        if i >= a.warmup:
            times.append(dt)
            cpu.append(dc)
    print(json.dumps({'ms': float(np.median(times)), 'ms_min': min(times), 'cpu_ms': float(np.median(cpu)), 'first_loss': first_loss,
                      'peak_rss_mb': max(rss_mb()[1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      'rss_steps_mb': rss,
                      'torch': torch_compat.describe_torch()}))


if __name__ == '__main__':
    main()
