"""PyTorch reference for bench/data-loader.ts: the TSM training loader (TSNDataSet + GroupMultiScaleCrop +
GroupRandomHorizontalFlip + Stack + ToTorchFormatTensor + GroupNormalize) with PIL, under torch's DataLoader.

Written from the semantics of mit-han-lab/temporal-shift-module ops/dataset.py and ops/transforms.py (training
branch only). Prints one JSON line: {"clips_per_s": ..., "clips": ..., "seconds": ...}.

usage: /usr/bin/python3 bench/data_loader_ref.py ROOT LIST --segments 8 --batch-size 8 --workers 2 --batches 20
"""
import argparse
import json
import os
import random
import time

import numpy as np
import torch
import torch.utils.data as data
from PIL import Image


class GroupMultiScaleCrop:
    def __init__(self, input_size, scales=(1, .875, .75, .66), max_distort=1, more_fix_crop=True):
        self.input_size = (input_size, input_size)
        self.scales = scales
        self.max_distort = max_distort
        self.more_fix_crop = more_fix_crop

    def __call__(self, group):
        image_w, image_h = group[0].size
        base = min(image_w, image_h)
        sizes = [int(base * s) for s in self.scales]
        crop_h = [self.input_size[1] if abs(x - self.input_size[1]) < 3 else x for x in sizes]
        crop_w = [self.input_size[0] if abs(x - self.input_size[0]) < 3 else x for x in sizes]
        pairs = [(w, h) for i, h in enumerate(crop_h) for j, w in enumerate(crop_w) if abs(i - j) <= self.max_distort]
        cw, ch = random.choice(pairs)
        ws, hs = (image_w - cw) // 4, (image_h - ch) // 4
        offsets = [(0, 0), (4 * ws, 0), (0, 4 * hs), (4 * ws, 4 * hs), (2 * ws, 2 * hs)]
        if self.more_fix_crop:
            offsets += [(0, 2 * hs), (4 * ws, 2 * hs), (2 * ws, 4 * hs), (2 * ws, 0),
                        (ws, hs), (3 * ws, hs), (ws, 3 * hs), (3 * ws, 3 * hs)]
        ow, oh = random.choice(offsets)
        return [img.crop((ow, oh, ow + cw, oh + ch)).resize(self.input_size, Image.BILINEAR) for img in group]


class GroupRandomHorizontalFlip:
    def __call__(self, group):
        if random.random() < 0.5:
            return [img.transpose(Image.FLIP_LEFT_RIGHT) for img in group]
        return group


class Stack:
    def __call__(self, group):
        return np.concatenate(group, axis=2)


class ToTorchFormatTensor:
    def __call__(self, pic):
        return torch.from_numpy(pic).permute(2, 0, 1).contiguous().float().div(255)


class GroupNormalize:
    def __init__(self, mean, std):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        reps = tensor.size()[0] // len(self.mean)
        for t, m, s in zip(tensor, self.mean * reps, self.std * reps):
            t.sub_(m).div_(s)
        return tensor


class TSNDataSet(data.Dataset):
    def __init__(self, root, list_file, num_segments, tmpl='img_{:05d}.jpg'):
        self.root, self.num_segments, self.tmpl = root, num_segments, tmpl
        self.records = [line.split() for line in open(list_file) if line.strip()]
        self.transforms = [GroupMultiScaleCrop(224), GroupRandomHorizontalFlip(), Stack(), ToTorchFormatTensor(),
                           GroupNormalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])]

    def _sample_indices(self, num_frames):
        avg = num_frames // self.num_segments
        if avg > 0:
            return np.multiply(list(range(self.num_segments)), avg) + np.random.randint(avg, size=self.num_segments) + 1
        return np.zeros(self.num_segments, dtype=int) + 1

    def __getitem__(self, i):
        path, num_frames, label = self.records[i]
        imgs = [Image.open(os.path.join(self.root, path, self.tmpl.format(int(p)))).convert('RGB')
                for p in self._sample_indices(int(num_frames))]
        x = imgs
        for t in self.transforms:
            x = t(x)
        return x, int(label)

    def __len__(self):
        return len(self.records)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('root')
    ap.add_argument('list_file')
    ap.add_argument('--segments', type=int, default=8)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--batches', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ds = TSNDataSet(args.root, args.list_file, args.segments)
    loader = data.DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                             drop_last=True, persistent_workers=True)
    def batches():
        while True:  # as many epochs as the measurement needs
            yield from loader

    clips = 0
    it = batches()
    for _ in range(args.warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(args.batches):
        x, y = next(it)
        assert x.shape == (args.batch_size, 3 * args.segments, 224, 224), x.shape
        clips += x.shape[0]
    dt = time.perf_counter() - t0
    print(json.dumps({'clips_per_s': clips / dt, 'clips': clips, 'seconds': dt}))


if __name__ == '__main__':
    main()
