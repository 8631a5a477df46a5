#!/usr/bin/env bash
# Run a command and print how long it took: `timed.sh LABEL CMD...`. Keeps the command's exit code.
label=$1; shift
start=$SECONDS
"$@"
rc=$?
echo "[time] $label: $((SECONDS - start)) s (exit $rc)"
exit $rc
