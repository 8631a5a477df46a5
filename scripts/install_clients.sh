#!/usr/bin/env bash
# Build the client environments used by tests/compat/, one per clashing family:
#   .venv/client-serpapi    serpapi==1.2.0                (requirements/client-serpapi.txt)
#   .venv/client-legacy     google-search-results==2.4.2  (requirements/client-legacy.txt)
#   .venv/client-providers  Tavily, Exa, Google CSE, LangChain SearX/Serper, Haystack Serper,
#                           litellm Serper, the MCP client, Playwright (requirements/client-providers.txt)
#   .venv/client-brave      brave-api-client==0.2.2       (requirements/client-brave.txt)
# serpapi and google-search-results install the same module; brave-api-client brings
# urllib3-future, which replaces urllib3 for every other client in its environment.
# Each also gets requirements/test.txt (pytest and plugins), under requirements/constraints.txt.
# None holds the simulator (the tests start it as a subprocess with $SERPSIM_SIM_PYTHON, default
# .venv/sim/bin/python) and none may hold torch: an install that pulls it in fails.
# Idempotent: a stamp file holding a hash of the requirement files skips an up-to-date venv.
# Usage: install_clients.sh [NAME...]   (default: all of them)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
ALL=(serpapi legacy providers brave)
cd "$REPO"

install_one() {
    local name="$1"
    local reqs="requirements/client-$name.txt"
    local venv=".venv/client-$name"
    local stamp="$venv/.installed"
    local want
    want="$(cat "$reqs" requirements/test.txt requirements/constraints.txt "$0" | sha256sum | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "client-$name: up to date ($venv)"
        return
    fi
    local t0=$SECONDS
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    # --no-compile: these venvs hold large libraries (LangChain, litellm, the Google API client)
    # of which the tests import a small part; byte-compiling all of it was most of the install.
    "$venv/bin/pip" install -q --disable-pip-version-check --no-compile -c requirements/constraints.txt \
        -r "$reqs" -r requirements/test.txt
    if "$venv/bin/python" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)'; then
        echo "client-$name: torch was pulled into $venv; client environments must not hold it" >&2
        exit 1
    fi
    echo "$want" > "$stamp"
    echo "client-$name: installed in $((SECONDS - t0)) s ($venv)"
}

# The environments are independent: build them side by side, and fail if any failed.
pids=()
for name in "${@:-${ALL[@]}}"; do
    [[ -f "requirements/client-$name.txt" ]] || { echo "no requirements/client-$name.txt" >&2; exit 2; }
    install_one "$name" &
    pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
