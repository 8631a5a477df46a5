#!/usr/bin/env bash
# Build the two SerpApi client environments used by tests/compat/ (one per clashing family):
#   .venv/client-serpapi  serpapi==1.2.0                (requirements/client-serpapi.txt)
#   .venv/client-legacy   google-search-results==2.4.2  (requirements/client-legacy.txt)
# Each also gets requirements/test.txt (pytest and plugins). Neither holds the simulator: the
# tests start it as a subprocess with $SERPSIM_SIM_PYTHON (default .venv/sim/bin/python).
# Idempotent: a stamp file holding a hash of the requirement files skips an up-to-date venv.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
cd "$REPO"

install_one() {
    local name="$1" reqs="$2"
    local venv=".venv/client-$name"
    local stamp="$venv/.installed"
    local want
    want="$(cat "$reqs" requirements/test.txt "$0" | sha256sum | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "client-$name: up to date ($venv)"
        return
    fi
    local t0=$SECONDS
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$reqs" -r requirements/test.txt
    echo "$want" > "$stamp"
    echo "client-$name: installed in $((SECONDS - t0)) s ($venv)"
}

install_one serpapi requirements/client-serpapi.txt
install_one legacy requirements/client-legacy.txt
