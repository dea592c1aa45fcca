"""Reference for transforms-golden.test.ts: the original's group transforms (ops/transforms.py semantics) with
PIL + torchvision on the JPEGs the test wrote. Reads a JSON job on argv[1], writes .npy files next to it."""
import json
import sys

import numpy as np
import torch
import torchvision
from PIL import Image, ImageOps

job = json.load(open(sys.argv[1]))
mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def to_tensor(group, mean, std):
    if group[0].mode == 'L':
        arr = np.concatenate([np.expand_dims(x, 2) for x in group], axis=2)
    else:
        arr = np.concatenate(group, axis=2)
    t = torch.from_numpy(arr).permute(2, 0, 1).contiguous().float().div(255)
    reps = t.size()[0] // len(mean)
    for c, m, s in zip(t, mean * reps, std * reps):
        c.sub_(m).div_(s)
    return t.numpy()


def fill_fix_offset(image_w, image_h, crop_w, crop_h):
    ws, hs = (image_w - crop_w) // 4, (image_h - crop_h) // 4
    return [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]


for case in job['cases']:
    mode = case.get('mode', 'RGB')
    group = [Image.open(f).convert(mode) for f in case['files']]
    m, s = (mean, std) if mode == 'RGB' else ([0.5], [float(np.mean(std))])
    kind = case['kind']
    if kind == 'val':  # GroupScale(256) + GroupCenterCrop(224)
        group = [torchvision.transforms.Resize(case['scale'], Image.BILINEAR)(im) for im in group]
        group = [torchvision.transforms.CenterCrop(case['crop'])(im) for im in group]
    elif kind == 'multiscale':  # GroupMultiScaleCrop with the crop the test drew, then the flip
        w, h, x, y = case['w'], case['h'], case['x'], case['y']
        size = case['size']
        group = [im.crop((x, y, x + w, y + h)).resize((size, size), Image.BILINEAR) for im in group]
        if case['flip']:
            group = [im.transpose(Image.FLIP_LEFT_RIGHT) for im in group]
            if mode == 'L':
                group = [ImageOps.invert(im) if i % 2 == 0 else im for i, im in enumerate(group)]
    elif kind == 'oversample':  # GroupOverSample(crop, scale) with flip
        group = [torchvision.transforms.Resize(case['scale'], Image.BILINEAR)(im) for im in group]
        iw, ih = group[0].size
        c = case['crop']
        out = []
        for ow, oh in fill_fix_offset(iw, ih, c, c):
            normal = [im.crop((ow, oh, ow + c, oh + c)) for im in group]
            out += normal
            out += [im.transpose(Image.FLIP_LEFT_RIGHT) for im in normal]
        group = out
    np.save(case['out'], to_tensor(group, m, s))
