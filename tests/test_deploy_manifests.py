"""deploy/kubernetes: the Deployments and KEDA ScaledObjects agree with qworker and with each other.

No cluster here: the manifests are parsed, and every value that must match qworker is checked
against qworker itself. The Deployment's args and environment go through the real ``qworker check``
(as in the image, whose /app is the example SAM project); the probe port is the metrics port; the
grace period covers the drain; the KEDA Redis list is the key the Redis backend really uses for the
queue (asked of a private redis-server); the SQS target is max concurrency x BatchSize of the
function the Deployment runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from qworker.cli import cli
from qworker.registry import open_backend
from qworker.sam import load_template
from qworker_redis.testing import RedisServer
from tests.test_dockerfile import DOCKERFILE, only, parse

REPO = Path(__file__).resolve().parent.parent
KUBERNETES = REPO / "deploy" / "kubernetes"
APP = REPO / "examples" / "sam"  # what the image's /app holds in the example


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((KUBERNETES / name).read_text()) if doc]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


DEPLOYMENTS = of_kind(documents("deployment.yaml"), "Deployment")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("QWORKER_"):
            monkeypatch.delenv(name)
    saved_env, saved_path, cwd = dict(os.environ), list(sys.path), os.getcwd()
    yield
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(saved_env)
    sys.path[:] = saved_path
    for module in ("orders", "payments"):
        sys.modules.pop(module, None)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only_container,) = deployment["spec"]["template"]["spec"]["containers"]
    return only_container


def literal_env(deployment: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(deployment)["env"] if "value" in e}


def effective(deployment: dict[str, Any]) -> dict[str, Any]:
    """``qworker check`` with the container's args and env, in the example app directory."""
    args = container(deployment)["args"]
    assert args[0] == "run"
    os.chdir(APP)
    result = CliRunner().invoke(
        cli, ["check", *args[1:], "--offline", "--no-import", "--json"], env=literal_env(deployment)
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_manifest_is_valid_yaml_with_kind_and_name() -> None:
    for path in sorted(KUBERNETES.glob("*.yaml")):
        for doc in documents(path.name):
            assert doc.get("apiVersion") and doc.get("kind") and doc["metadata"]["name"], (path, doc)
    assert [d["metadata"]["name"] for d in DEPLOYMENTS] == ["orders-worker", "payments-worker"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_deployment_runs_what_qworker_accepts(deployment: dict[str, Any]) -> None:
    data = effective(deployment)
    (function,) = data["functions"]
    name = deployment["metadata"]["name"].removesuffix("-worker").capitalize() + "Function"
    assert function["name"] == name
    worker = data["worker"]
    assert worker["metrics_host"] == {"value": "0.0.0.0", "source": "env QWORKER_METRICS_HOST"}
    assert worker["log_format"]["value"] == "json"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_probes_on_the_metrics_port(deployment: dict[str, Any]) -> None:
    spec = container(deployment)
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    metrics_port = effective(deployment)["worker"]["metrics_port"]["value"]
    assert ports["metrics"] == metrics_port
    assert spec["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "metrics"}
    assert spec["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert spec["startupProbe"]["httpGet"]["port"] == "metrics"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(metrics_port)
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_grace_period_covers_the_drain(deployment: dict[str, Any]) -> None:
    """SIGKILL must not come before qworker's drain ends (STYLE 2.1: 25 s < 30 s)."""
    graceful = effective(deployment)["worker"]["graceful_timeout"]["value"]
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert graceful + 3 <= grace, (graceful, grace)


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_pod_runs_as_the_images_user(deployment: dict[str, Any]) -> None:
    user = only([i for i in parse(DOCKERFILE.read_text()) if i.stage == 1], "USER").arguments
    uid, gid = (int(x) for x in user.split(":"))
    security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert security["runAsNonRoot"] is True
    assert (security["runAsUser"], security["runAsGroup"]) == (uid, gid)
    hardening = container(deployment)["securityContext"]
    assert hardening["allowPrivilegeEscalation"] is False and hardening["capabilities"]["drop"] == ["ALL"]


def targets(name: str) -> dict[str, dict[str, Any]]:
    """ScaledObject target -> its single trigger."""
    out = {}
    for scaled in of_kind(documents(name), "ScaledObject"):
        (trigger,) = scaled["spec"]["triggers"]
        out[scaled["spec"]["scaleTargetRef"]["name"]] = {
            **trigger,
            "minReplicaCount": scaled["spec"]["minReplicaCount"],
        }
    return out


def mapping_of(deployment_name: str) -> dict[str, Any]:
    deployment = next(d for d in DEPLOYMENTS if d["metadata"]["name"] == deployment_name)
    (function,) = effective(deployment)["functions"]
    return function["settings"]


def test_keda_sqs_targets_queue_length_concurrency_times_batch() -> None:
    """aws-sqs-queue: the Deployment's queue, queueLength ≈ max concurrency x BatchSize (STYLE 2.4)."""
    scaled = targets("keda-sqs.yaml")
    assert set(scaled) == {d["metadata"]["name"] for d in DEPLOYMENTS}
    for name, trigger in scaled.items():
        settings = mapping_of(name)
        assert trigger["type"] == "aws-sqs-queue"
        assert trigger["metadata"]["queueURL"].rsplit("/", 1)[-1] == settings["queue"]["value"]
        expected = settings["max_concurrency"]["value"] * settings["batch_size"]["value"]
        assert int(trigger["metadata"]["queueLength"]) == expected
        assert trigger["metadata"]["awsRegion"] == trigger["metadata"]["queueURL"].split(".")[1]
    authentications = {
        t["metadata"]["name"] for t in of_kind(documents("keda-sqs.yaml"), "TriggerAuthentication")
    }
    assert all(t["authenticationRef"]["name"] in authentications for t in scaled.values())


async def test_keda_redis_list_is_the_backends_ready_list() -> None:
    """redis (list) scaler: listName is the key RedisBackend really keeps the ready messages in,
    for the queue the Deployment runs, created from the template on a private redis-server."""
    scaled = targets("keda-redis.yaml")
    orders = scaled["orders-worker"]
    assert orders["type"] == "redis" and orders["minReplicaCount"] >= 1
    settings = mapping_of("orders-worker")
    assert int(orders["metadata"]["listLength"]) == (
        settings["max_concurrency"]["value"] * settings["batch_size"]["value"]
    )
    queues = load_template(APP / "template.yaml").queues
    server = RedisServer("--maxmemory-policy", "noeviction").start()
    try:
        async with open_backend(server.url) as backend:
            for spec in sorted(queues, key=lambda q: q.redrive_policy is not None):  # DLQs first
                await backend.create_queue(spec)
            await backend.get_queue(settings["queue"]["value"])
            key = backend.ready_list_key(settings["queue"]["value"])  # type: ignore[attr-defined]
    finally:
        server.cleanup()
    assert orders["metadata"]["listName"] == key
    # the FIFO worker scales on qworker's queue-depth gauge (FIFO queues keep no ready list)
    payments = scaled["payments-worker"]
    assert payments["type"] == "prometheus"
    assert f'queue="{mapping_of("payments-worker")["queue"]["value"]}"' in payments["metadata"]["query"]
    assert "qworker_queue_messages" in payments["metadata"]["query"]
