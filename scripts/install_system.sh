#!/usr/bin/env bash
# Debian tools the tests and benchmarks use: wrk (load generator for bench/), docker-compose 1.29
# (validates docker-compose.yml without a Docker engine), redis-server (shared-state tests), and chromium with fonts-liberation (the
# headless browser the playground test drives through Playwright's executable_path; Playwright's
# own browser download is never used). Installs only what is missing.
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v docker-compose >/dev/null || missing+=(docker-compose)
# redis-server: the shared-state tests (tests/simulator/shared_state) start a real one on a loopback port.
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
dpkg -s fonts-liberation >/dev/null 2>&1 || missing+=(fonts-liberation)
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "install_system: wrk, docker-compose, redis-server, chromium and fonts-liberation present"
    exit 0
fi
SUDO=""
[[ $(id -u) -eq 0 ]] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
