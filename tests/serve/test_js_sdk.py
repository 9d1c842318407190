"""The AWS SDK for JavaScript v3 (``@aws-sdk/client-sqs``) against ``qworker serve``.

The SDK is installed by the test with npm into a cache folder (``QWORKER_JS_SDK_CACHE``, default
``~/.cache/qworker-tests/js-sdk``), once, from the npm registry. The test is skipped, saying so,
only when node or npm is missing; a failed install fails it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from qworker.testing.serve import ServeProcess

from .test_roundtrip import canonical_md5

SCRIPT = Path(__file__).parent / "js" / "roundtrip.cjs"
SDK = "@aws-sdk/client-sqs@3"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript SDK test (apt-get install nodejs npm)")
    cache = Path(
        os.environ.get("QWORKER_JS_SDK_CACHE") or Path.home() / ".cache" / "qworker-tests" / "js-sdk"
    )
    cache.mkdir(parents=True, exist_ok=True)
    modules = cache / "node_modules"
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # xdist workers install once
        if not (modules / "@aws-sdk" / "client-sqs" / "package.json").exists():
            done = subprocess.run(
                [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--loglevel=error", SDK],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"npm install {SDK} failed:\n{done.stderr[-3000:]}"
    return modules


@pytest.mark.timeout(120)
def test_javascript_sdk_round_trip(server: ServeProcess, node_modules: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["NODE_PATH"] = str(node_modules)
    done = subprocess.run(
        ["node", str(SCRIPT), server.url], capture_output=True, text=True, env=env, timeout=90, check=False
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["received"]["MessageId"] == out["sent"]["MessageId"]
    assert out["received"]["Body"] == "from javascript\r\nline 2"
    assert out["received"]["MD5OfMessageAttributes"] == out["sent"]["MD5OfMessageAttributes"]
    assert out["sent"]["MD5OfMessageSystemAttributes"] == canonical_md5(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc-def"}}
    )
    assert out["received"]["trace"] == "Root=1-abc-def"
    assert (out["received"]["text"], out["received"]["number"]) == ("héllo ✓", "42.5")
    assert (out["received"]["blob"], out["received"]["custom"]) == ([0, 1, 254, 255], "String.custom")
    assert out["countsAfterDelete"] == ["0", "0"]
    assert out["fifoBodies"] == ["f0", "f1", "f2"] and out["fifoGroups"] == ["g", "g", "g"]
    numbers = [int(n) for n in out["fifoSequence"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3
    assert out["fifoDeleted"] == 3
    assert out["error"]["name"] == "QueueDoesNotExist"
    assert out["error"]["status"] == 400
