/**
 * Checkpoints made by real PyTorch (Debian's /usr/bin/python3 with python3-torch) for the reader tests: every
 * storage type, views with offsets and strides, shared storages, parameters, numpy scalars, a namespace and an
 * optimizer state, saved in both formats. Each tensor's expected value is saved beside it as `<name>.npy`
 * (C-contiguous). Generated into a temp folder at test time; nothing binary is committed.
 */
import { join } from 'node:path';
import { runPython } from '../helpers/python.js';

/** Tensor entries of the generated checkpoint (each has an `<name>.npy` with the expected dense value). */
export const TORCH_CASE_TENSORS = [
  'f32', 'transposed', 'sliced', 'shared_base', 'shared_view', 'f16', 'f64', 'i64', 'i32', 'u8', 'i8', 'bool',
  'scalar', 'empty', 'expanded', 'param', 'permuted_f16', 'i64_view',
] as const;

const SCRIPT = `
import sys, os, argparse, collections
import numpy as np, torch
out = sys.argv[1]
torch.manual_seed(0)
base = torch.arange(12.)
t = {
    'f32': torch.randn(3, 4),
    'transposed': torch.randn(4, 5).t(),
    'sliced': torch.arange(100.).view(10, 10)[2:8:2, 1::3],
    'shared_base': base,
    'shared_view': base[3:9].view(2, 3),
    'f16': torch.randn(2, 3).half(),
    'f64': torch.randn(5, dtype=torch.float64),
    'i64': torch.tensor([0, -1, 2**62, -2**63, 2**53 + 1]),
    'i32': torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32),
    'u8': torch.tensor([0, 128, 255], dtype=torch.uint8),
    'i8': torch.tensor([-128, 0, 127], dtype=torch.int8),
    'bool': torch.tensor([True, False, True]),
    'scalar': torch.tensor(3.5),
    'empty': torch.zeros(0, 3),
    'expanded': torch.arange(3.).expand(4, 3),
    'param': torch.nn.Parameter(torch.randn(2, 2)),
    'permuted_f16': torch.randn(2, 3, 4).half().permute(2, 0, 1),
    'i64_view': torch.arange(20).view(4, 5)[:, 1:4],
}
for k, v in t.items():
    np.save(os.path.join(out, k + '.npy'), v.detach().contiguous().numpy())
lin = torch.nn.Linear(3, 2)
opt = torch.optim.SGD(lin.parameters(), lr=0.1, momentum=0.9)
lin(torch.randn(4, 3)).sum().backward()
opt.step()
obj = {
    'epoch': 7, 'arch': 'resnet50',
    'tensors': collections.OrderedDict(t),
    'best_prec1': np.float64(12.5), 'np_f32': np.float32(0.25), 'np_i64': np.int64(-7), 'np_bool': np.bool_(True),
    'args': argparse.Namespace(lr=0.01, arch='resnet50', segments=8),
    'size': torch.Size([2, 3]),
    'optimizer': opt.state_dict(),
    'state_dict': lin.state_dict(),
}
torch.save(obj, os.path.join(out, 'cases_zip.pth'))
torch.save(obj, os.path.join(out, 'cases_legacy.pth'), _use_new_zipfile_serialization=False)
np.save(os.path.join(out, 'momentum.npy'), opt.state_dict()['state'][0]['momentum_buffer'].numpy())
torch.save(lin, os.path.join(out, 'whole_module.pth'))
torch.save({'w': torch.ones(2, dtype=torch.bfloat16)}, os.path.join(out, 'bf16.pth'))
torch.save({'w': torch.ones(2, dtype=torch.bfloat16)}, os.path.join(out, 'bf16_legacy.pth'), _use_new_zipfile_serialization=False)
print(torch.__version__)
`;

/** Writes the torch-made cases into `dir`; returns their paths. Fails (not skips) when torch is missing. */
export function makeTorchCases(dir: string): { zip: string; legacy: string; wholeModule: string; bf16: string; bf16Legacy: string } {
  runPython(SCRIPT, [dir]);
  return {
    zip: join(dir, 'cases_zip.pth'),
    legacy: join(dir, 'cases_legacy.pth'),
    wholeModule: join(dir, 'whole_module.pth'),
    bf16: join(dir, 'bf16.pth'),
    bf16Legacy: join(dir, 'bf16_legacy.pth'),
  };
}
