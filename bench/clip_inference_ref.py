"""PyTorch side of bench/clip-inference.ts: TSM-ResNet-50 (8 segments, shift 1/8 blockres) on one 8x224x224 clip,
batch 1, eval, no_grad, CPU with THREADS threads. Uses our reference TSN (test/models/ref/tsm_ref.py, the original's
semantics on torchvision's ResNet-50) with the weights of CHECKPOINT, so both sides compute the same logits.

Usage: /usr/bin/python3 bench/clip_inference_ref.py CHECKPOINT INPUT_NPY OUTPUT_NPY THREADS WARMUP RUNS [EXPORT_ONNX]
With EXPORT_ONNX it also writes the same model as ONNX with PyTorch's own exporter (torch.onnx.export, opset 17,
constant folding on, batch 1 as traced), for bench/clip-inference.ts to run on onnxruntime next to ours.
Prints one JSON line: {"ms": [...per run...], "torch": version and kernels, "threads": n}.
"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'models', 'ref'))
import torch_compat  # noqa: E402  (first: imports torchvision where only its CUDA build is installed)
import tsm_ref  # noqa: E402

ckpt, inp, out, threads, warmup, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
export_path = sys.argv[7] if len(sys.argv) > 7 else None
torch.set_num_threads(threads)
sd = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in torch.load(ckpt, map_location='cpu')['state_dict'].items()}
num_class = sd['new_fc.weight'].shape[0]
model = tsm_ref.TSN(num_class, 8, 'RGB', base_model='resnet50', is_shift=True, shift_div=8, shift_place='blockres')
model.load_state_dict(sd)
model.eval()
x = torch.from_numpy(np.load(inp))
times = []
with torch.no_grad():
    for i in range(warmup + runs):
        t0 = time.perf_counter()
        y = model(x)
        dt = (time.perf_counter() - t0) * 1000
        if i >= warmup:
            times.append(dt)
np.save(out, y.numpy().astype(np.float32))
if export_path:
    with torch.no_grad():
        torch.onnx.export(model, x, export_path, opset_version=17, do_constant_folding=True, input_names=['input'], output_names=['logits'])
print(json.dumps({'ms': times, 'torch': torch_compat.describe_torch(), 'threads': torch.get_num_threads()}))
