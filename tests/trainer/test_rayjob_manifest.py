"""deploy/rayjob.yaml, checked without Kubernetes: against KubeRay's own RayJob schema (v1.7.0 CRD,
vendored, see tests/data/kuberay-rayjob-v1.NOTICE.md) made strict as `kubectl apply
--validate=strict` is, against the trainer image's Ray, and its entrypoint through serpsim-train's
own parser and dry run."""

from __future__ import annotations

import copy
import gzip
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from serpsim_trainer.cli import main

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "deploy" / "rayjob.yaml"
SCHEMA = REPO / "tests" / "data" / "kuberay-rayjob-v1.schema.json.gz"


def _strict(node: Any) -> Any:
    """No unknown fields where the schema lists the known ones (the API server would prune a typo
    silently; strict validation refuses it). Free-form objects stay free-form."""
    if isinstance(node, dict):
        node = {k: _strict(v) for k, v in node.items()}
        if ("properties" in node and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")):
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


def _validator() -> jsonschema.Draft4Validator:
    schema = _strict(json.loads(gzip.decompress(SCHEMA.read_bytes())))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def _errors(doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in _validator().iter_errors(doc)]


def test_manifest_matches_the_rayjob_crd() -> None:
    doc = _manifest()
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    assert _errors(doc) == []


def test_the_schema_rejects_broken_manifests() -> None:
    """The check above can fail: a misspelt field, a missing required one, a bad quantity."""
    typo = copy.deepcopy(_manifest())
    typo["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replica"] = 2
    assert any("'replica' was unexpected" in e for e in _errors(typo))
    unnamed = copy.deepcopy(_manifest())
    del unnamed["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["groupName"]
    assert any("'groupName' is a required property" in e for e in _errors(unnamed))
    quantity = copy.deepcopy(_manifest())
    quantity["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "eight"
    assert any("does not match" in e or "is not valid" in e for e in _errors(quantity))


def test_ray_version_is_the_images() -> None:
    """KubeRay picks the probes by rayVersion; the image must carry that Ray."""
    ray_version = _manifest()["spec"]["rayClusterSpec"]["rayVersion"]
    dockerfile = (REPO / "deploy" / "trainer.Dockerfile").read_text()
    assert re.search(r"^ARG RAY_VERSION=(\S+)$", dockerfile, re.MULTILINE).group(1) == ray_version  # type: ignore[union-attr]
    assert '"ray[default]==${RAY_VERSION}"' in dockerfile
    requirements = (REPO / "requirements" / "trainer.txt").read_text()
    assert f"ray[default]=={ray_version}" in requirements.splitlines()


def test_entrypoint_is_serpsim_train_and_its_dry_run_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The entrypoint parses with serpsim-train's own parser and composes (run dir moved here);
    the cluster it asks for is the one the manifest builds."""
    spec = _manifest()["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:2] == ["serpsim-train", "rl"] and "--ray-address" in argv
    argv = [a for a in argv[1:] if not a.startswith("serpsim.run_dir=")] + [f"serpsim.run_dir={tmp_path}", "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    workers = spec["rayClusterSpec"]["workerGroupSpecs"][0]
    gpus = workers["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert f"ray resources: {workers['replicas'] * gpus} GPUs ({workers['replicas']} nodes x {gpus})" in out
    assert "ray cluster: auto (not contacted in a dry run)" in out
    mounts = [c["volumeMounts"] for group in [spec["rayClusterSpec"]["headGroupSpec"], workers]
              for c in group["template"]["spec"]["containers"]]
    assert all({"name": "runs", "mountPath": "/workspace/runs"} in m for m in mounts)  # the run dir on every pod
