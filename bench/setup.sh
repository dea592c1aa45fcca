#!/usr/bin/env bash
# What the benchmarks' PyTorch side needs.
# 1. Debian's python3-torch, python3-torchvision, python3-pil and python3-numpy for /usr/bin/python3 (the reference
#    scripts bench/*_ref.py), and chromium for bench/online-browser.ts: installs the missing ones with apt
#    (apt-get update first); does nothing when everything is there. Failing here fails the bench.
# 2. The official PyTorch CPU wheel (what most users install; oneDNN/MKL kernels) in a virtual environment,
#    bench/.venv-torch (or $TSM_TORCH_WHEEL_VENV), so every bench can run PyTorch twice: Debian's and the wheel.
#    It tries download.pytorch.org/whl/cpu first (as PyTorch's install page says; 5 s network timeout, no retries),
#    then a CPU wheel (version "+cpu") from the sources pip's own configuration names (a local wheelhouse or
#    mirror). When neither works it says so and the benches run with Debian's PyTorch alone (not an error).
set -euo pipefail
PY=${TSM_PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)

debian_packages() {
  local need=()
  "$PY" -c 'import torch' >/dev/null 2>&1 || need+=(python3-torch)
  "$PY" -c 'import torchvision' >/dev/null 2>&1 || need+=(python3-torchvision)
  "$PY" -c 'import PIL' >/dev/null 2>&1 || need+=(python3-pil)
  "$PY" -c 'import numpy' >/dev/null 2>&1 || need+=(python3-numpy)
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  if [ ${#need[@]} -eq 0 ]; then
    return 0
  fi
  local sudo=
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo=sudo; else
      echo "[bench] missing Debian packages: ${need[*]}; run as root: apt-get update && apt-get install ${need[*]}" >&2
      exit 1
    fi
  fi
  echo "[bench] installing Debian packages: ${need[*]}"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
}

# The official CPU wheel in a venv; returns non-zero (after saying why) when it cannot be installed.
official_wheel() {
  local venv=${TSM_TORCH_WHEEL_VENV:-$here/.venv-torch}
  local vpy=$venv/bin/python
  # torch_compat imports torchvision (see there: a CUDA-only torchvision's compiled ops are skipped)
  local check="import sys; sys.path.insert(0, '$here'); import torch_compat, numpy, PIL, torch; assert torch.version.cuda is None, torch.__version__"
  if [ -x "$vpy" ] && "$vpy" -c "$check" >/dev/null 2>&1; then
    return 0
  fi
  echo "[bench] installing the official PyTorch CPU wheel into $venv"
  rm -rf "$venv.tmp"
  "$PY" -m venv "$venv.tmp" || { echo "[bench] official PyTorch wheel: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; return 1; }
  local pip=("$venv.tmp/bin/python" -m pip --no-input --disable-pip-version-check --timeout 5 --retries 0 -q)
  # the official index alone, without pip.conf's mirrors (so a CUDA build from a mirror cannot slip in)
  if env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null timeout 900 "${pip[@]}" install --index-url https://download.pytorch.org/whl/cpu torch torchvision \
    && timeout 300 "${pip[@]}" install numpy pillow; then
    :
  else
    echo "[bench] official PyTorch wheel: download.pytorch.org/whl/cpu (or PyPI for numpy) is not reachable; trying pip's configured sources for a +cpu wheel" >&2
    # torch's own dependencies from the configured indexes, then torch from find-links only (no index), where a
    # +cpu build sits, then the torchvision release that pairs with it (0.<minor + 15>) without its torch pin
    if timeout 600 "${pip[@]}" install numpy pillow filelock typing-extensions sympy networkx jinja2 fsspec "setuptools>=77" \
      && timeout 600 "${pip[@]}" install --no-index torch \
      && "$venv.tmp/bin/python" -c 'import torch; assert "+cpu" in torch.__version__, torch.__version__' \
      && tv=$("$venv.tmp/bin/python" -c 'import torch; v = torch.__version__.split("+")[0].split("."); print(f"0.{int(v[1]) + 15}.*")') \
      && timeout 600 "${pip[@]}" install --no-deps "torchvision==$tv"; then
      :
    else
      rm -rf "$venv.tmp"
      echo "[bench] official PyTorch wheel: not installable here; the benches run with Debian's PyTorch alone" >&2
      return 1
    fi
  fi
  if ! "$venv.tmp/bin/python" -c "$check"; then
    rm -rf "$venv.tmp"
    echo "[bench] official PyTorch wheel: installed but does not import; the benches run with Debian's PyTorch alone" >&2
    return 1
  fi
  rm -rf "$venv"
  mv "$venv.tmp" "$venv"
  echo "[bench] official PyTorch wheel: $("$vpy" -c 'import torch; print(torch.__version__)') in $venv"
}

debian_packages
official_wheel || true
