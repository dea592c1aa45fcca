"""Float64 logits of a TSN checkpoint and their fp32 rounding-error budget, for tests that compare fp32 evaluations
of one model with it (test/helpers/fp32_budget.py).

Usage: /usr/bin/python3 tsn_budget.py CHECKPOINT TSN_KWARGS_JSON INPUT_NPY OUT_DIR [SIGMA_VIEWS]
INPUT_NPY holds views [V, T*C, H, W] as TSN.forward takes them. Writes OUT_DIR/logits64.npy and OUT_DIR/sigma.npy
([V, num_class]) and OUT_DIR/meta.json ({"lambda"}). Every view gets its float64 logits; the Monte Carlo sigma (eight
float64 runs per view) is measured on the first SIGMA_VIEWS views (default all) and, per class, the largest of those
is given to every view: the same network on views of the same data, at a fraction of the cost.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tsm_ref import LAMBDA, TSN, budget_logits  # noqa: E402

ckpt, kwargs, inp, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
model = TSN(**kwargs)
sd = torch.load(ckpt, map_location='cpu')
sd = sd.get('state_dict', sd)
model.load_state_dict({k[len('module.'):] if k.startswith('module.') else k: v for k, v in sd.items()})
model.eval()
views = torch.from_numpy(np.load(inp))
sampled = min(int(sys.argv[5]), views.shape[0]) if len(sys.argv) > 5 else views.shape[0]
# a few views at a time: the Monte Carlo samples run as one batch of SAMPLES copies
parts = [budget_logits(model, views[i:min(i + 8, sampled)], i) for i in range(0, sampled, 8)]
sigma = torch.cat([p[1] for p in parts])
model64 = model.double()
with torch.no_grad():
    logits64 = torch.cat([model64(views[i:i + 32].double()) for i in range(0, views.shape[0], 32)])
if sampled < views.shape[0]:
    sigma = sigma.amax(0, keepdim=True).expand_as(logits64)
np.save(os.path.join(out, 'logits64.npy'), logits64.numpy())
np.save(os.path.join(out, 'sigma.npy'), sigma.contiguous().numpy())
with open(os.path.join(out, 'meta.json'), 'w') as f:
    json.dump({'lambda': LAMBDA}, f)
