"""The third-party backend example (``examples/backend-plugin``, ``docs/writing-a-backend.md``)
works as its page says: installed as a package, its ``jsondir://`` scheme is found through the
``qworker.backends`` entry points, and its own tests, qworker's conformance suite among them,
pass.

The package is installed with pip into a temporary ``--target`` (built from its pyproject.toml
as a user's pip would), not into this environment, and its tests run in a separate pytest
process that sees it only through ``PYTHONPATH``: what is checked is the installed plugin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PLUGIN = REPO / "examples" / "backend-plugin"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment in which the example plugin is installed (and nothing else changed)."""
    target = tmp_path_factory.mktemp("plugin-site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(target), str(PLUGIN)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(target), str(REPO)]))
    return env


def test_the_installed_plugin_registers_its_scheme(plugin_env: dict[str, str]) -> None:
    code = (
        "from qworker.registry import available_schemes, backend_class\n"
        "cls = backend_class('jsondir')\n"
        "print(available_schemes()['jsondir'], cls.__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=plugin_env, capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["qworker_jsondir:JsonDirBackend", "qworker_jsondir.backend"]


def test_the_plugin_passes_its_tests_and_the_conformance_suite(plugin_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-rs", "tests"],
        cwd=PLUGIN,
        env=plugin_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = result.stdout[-4000:] + result.stderr[-2000:]
    assert result.returncode == 0, tail
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None and int(passed.group(1)) >= 90, tail
    assert "failed" not in result.stdout.splitlines()[-1], tail
    # what it skips, it skips for the capabilities it does not claim, and says so
    skipped = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    allowed = ("no shared record store", "failure notes", "without its receipt handle", "no quarantine")
    assert all(any(reason in line for reason in allowed) for line in skipped), skipped
