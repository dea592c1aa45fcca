"""What the benches' PyTorch references import first, so they run on Debian's PyTorch and on the official CPU wheel.

NOTE: where the official CPU wheel comes from a mirror that has torchvision only as its CUDA build (PyPI's), that
torchvision's compiled ops (nms, roi_align, ...) cannot load next to a CPU torch, and `import torchvision` stops in
its op registrations. The references use torchvision's model definitions only (plain Python modules), so on that
error the registrations are skipped and torchvision is imported again. Nothing changes where torchvision imports.
"""
import sys
import types


def import_torchvision():
    """`import torchvision`, skipping its compiled-op registrations when they cannot load (see the module doc)."""
    try:
        import torchvision
        return torchvision
    except RuntimeError as e:
        if 'torchvision::' not in str(e):
            raise
    for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
        del sys.modules[name]
    sys.modules['torchvision._meta_registrations'] = types.ModuleType('torchvision._meta_registrations')
    import torchvision
    return torchvision


def describe_torch():
    """`torch <version> (CPU kernels <level>, oneDNN <version>, MKL|no MKL)` for the bench notes, from its build config."""
    import re
    import torch
    config = torch.__config__.show()
    level = re.search(r'CPU capability usage: (\S+)', config)
    onednn = re.search(r'MKL-DNN (v[\d.]+)', config)
    parts = [f'CPU kernels {level.group(1) if level else "?"}', f'oneDNN {onednn.group(1) if onednn else "none"}',
             'MKL' if 'Math Kernel Library' in config else 'no MKL']
    return f'torch {torch.__version__} ({", ".join(parts)})'


import_torchvision()
