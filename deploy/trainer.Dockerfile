# syntax=docker/dockerfile:1
# The trainer image (GPU host): verl[vllm]==0.9.1 (vLLM for rollout, FSDP for the actor) +
# serpsim-protocol + serpsim-trainer. It talks to the simulator over HTTP only, so it carries the
# protocol package and none of the simulator's serving code.
#
#   docker build -f deploy/trainer.Dockerfile -t serpsim-trainer .
#
# verl's `vllm` extra pins its own torch (2.11.0) and vLLM; on GPU hosts the trainer follows verl's
# pins, not requirements/constraints.txt (which pins the CPU dev environments). A checkpoint saved
# here still loads in the simulator image (newer transformers reads older checkpoints).
ARG PYTHON_VERSION=3.12
FROM python:${PYTHON_VERSION}-slim-bookworm

ARG VERL_VERSION=0.9.1
# Ray as in requirements/trainer.txt; deploy/rayjob.yaml's rayVersion must name the same release
# (KubeRay picks its probes by it: HTTP from 2.53.0 on, wget before, which python:slim lacks).
ARG RAY_VERSION=2.60.0
# Optional CUDA-only speed-ups, e.g. EXTRA_PIP="flash-attn liger-kernel" (flash-attn needs a
# matching prebuilt wheel or a CUDA toolkit to build).
ARG EXTRA_PIP=""

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/models/hf

# A C/C++ toolchain for Triton's launcher and any source builds; git for verl's optional extras.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ libc6-dev git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /workspace

RUN pip install "verl[vllm]==${VERL_VERSION}" "ray[default]==${RAY_VERSION}" ${EXTRA_PIP}

COPY shared/ /src/shared/
COPY services/trainer/ /src/services/trainer/
RUN pip install /src/shared /src/services/trainer \
    && python -c "import serpsim_trainer, serpsim_protocol, verl, vllm" \
    && ! python -c "import serpsim_simulator" 2>/dev/null

RUN mkdir -p /workspace/data /workspace/runs /models/hf
VOLUME ["/workspace/runs"]

ENTRYPOINT ["serpsim-train"]
CMD ["--help"]
