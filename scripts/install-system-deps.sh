#!/usr/bin/env bash
# Debian packages the test suite uses: ffmpeg (frame extraction, video decoding), chromium (browser tests),
# python3-torch and python3-onnx (cross-checks: torch.load reads our .pth, onnx.checker accepts our .onnx),
# qemu-user (runs numeric tests on an emulated AVX2-only CPU, so onnxruntime's other kernel path is tested too).
# Skips the install when everything is already there.
set -euo pipefail
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
/usr/bin/python3 -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch python3-torchvision)
/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1 || need+=(python3-onnx)
/usr/bin/python3 -c 'import numpy, PIL' >/dev/null 2>&1 || need+=(python3-numpy python3-pil)
command -v qemu-x86_64 >/dev/null 2>&1 || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "[temporal-shift] missing Debian packages: ${need[*]} (run as root: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "[temporal-shift] installing Debian packages: ${need[*]}"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
