#!/usr/bin/env bash
# What the benchmarks' PyTorch side needs: Debian's python3-torch, python3-torchvision, python3-pil and python3-numpy
# for /usr/bin/python3 (the reference scripts bench/*_ref.py), and chromium for bench/online-browser.ts. Installs
# the missing ones with apt (apt-get update first); does nothing when everything is there.
set -euo pipefail
PY=${TSM_PYTHON:-/usr/bin/python3}
need=()
"$PY" -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
"$PY" -c 'import torchvision' >/dev/null 2>&1 || need+=(python3-torchvision)
"$PY" -c 'import PIL' >/dev/null 2>&1 || need+=(python3-pil)
"$PY" -c 'import numpy' >/dev/null 2>&1 || need+=(python3-numpy)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "[bench] missing Debian packages: ${need[*]}; run as root: apt-get update && apt-get install ${need[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
echo "[bench] installing Debian packages: ${need[*]}"
$SUDO apt-get update
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${need[@]}"
