"""The Dockerfile, read as Docker reads it (Docker cannot run on the CI machines, so the image is
not built here): a slim Python base, the three backends installed, a non-root user, tini as PID 1
with qworker as the exec-form entry point (SIGTERM reaches qworker and drains), and a
.dockerignore that keeps the build context small and free of local databases."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"


@dataclass
class Instruction:
    keyword: str
    arguments: str
    stage: int  #: 0 for the first FROM's stage, 1 for the second, ...


def parse(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped (Dockerfile syntax)."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # comment lines inside a continuation are removed by Docker
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, arguments.strip(), stage))
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def final(instructions: list[Instruction]) -> list[Instruction]:
    last = max(i.stage for i in instructions)
    return [i for i in instructions if i.stage == last]


def only(instructions: list[Instruction], keyword: str) -> Instruction:
    found = [i for i in instructions if i.keyword == keyword]
    assert len(found) == 1, (keyword, found)
    return found[0]


def exec_form(instruction: Instruction) -> list[str]:
    """The JSON-array (exec) form; the shell form would put /bin/sh -c between tini and qworker."""
    value = json.loads(instruction.arguments)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), instruction
    return value


def test_parser_joins_continuations_and_skips_comments() -> None:
    parsed = parse("# c\nFROM a AS b\nRUN x \\\n  # inner\n  && y\nFROM c\nUSER 1\n")
    assert [(i.keyword, i.arguments, i.stage) for i in parsed] == [
        ("FROM", "a AS b", 0),
        ("RUN", "x && y", 0),
        ("FROM", "c", 1),
        ("USER", "1", 1),
    ]


def test_slim_python_base_matching_requires_python(instructions: list[Instruction]) -> None:
    args = {i.arguments.split("=")[0]: i.arguments.split("=")[1] for i in instructions if i.keyword == "ARG"}
    version = args["PYTHON_VERSION"]
    froms = [i.arguments for i in instructions if i.keyword == "FROM"]
    assert len(froms) == 2, "multi-stage: wheels are built in the first stage, not in the image"
    for base in froms:
        assert base.split()[0] == "python:${PYTHON_VERSION}-slim"
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in re.fullmatch(r">=(\d+)\.(\d+)", requires).groups())  # type: ignore[union-attr]
    assert tuple(int(x) for x in version.split(".")) >= minimum


def test_all_three_backends_are_installed(instructions: list[Instruction], final: list[Instruction]) -> None:
    build = " ".join(i.arguments for i in instructions if i.keyword == "RUN" and i.stage == 0)
    assert re.search(r"pip wheel .*--wheel-dir /wheels '\.\[redis,sqs\]'", build)
    install = " ".join(i.arguments for i in final if i.keyword == "RUN" and "pip install" in i.arguments)
    assert "--no-index" in install and "--no-cache-dir" in install
    assert install.split("pip install")[1].split()[-1] == "'qworker[redis,sqs]'"  # one distribution
    copied = [i.arguments.split()[0] for i in instructions if i.keyword == "COPY" and i.stage == 0]
    for source in copied:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"
    assert {"qworker/", "backends/", "pyproject.toml"} <= {
        part for i in instructions if i.keyword == "COPY" for part in i.arguments.split()
    }


def test_runs_as_a_non_root_user(final: list[Instruction]) -> None:
    user = only(final, "USER").arguments
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) >= 1000, "a numeric non-root uid, so runAsNonRoot can verify it"
    assert gid.isdigit() and int(gid) >= 1000
    setup = " ".join(i.arguments for i in final if i.keyword == "RUN")
    assert f"useradd --system --no-log-init --uid {uid}" in setup
    assert f"groupadd --system --gid {gid}" in setup
    # nothing runs as root after the switch
    position = final.index(only(final, "USER"))
    assert not [i for i in final[position:] if i.keyword == "RUN"]


def test_tini_is_pid_1_and_qworker_the_entry_point(final: list[Instruction]) -> None:
    """tini forwards SIGTERM to qworker (which drains) and reaps zombies; exec form throughout."""
    entrypoint = exec_form(only(final, "ENTRYPOINT"))
    assert entrypoint == ["/usr/bin/tini", "--", "qworker"]
    setup = " ".join(i.arguments for i in final if i.keyword == "RUN")
    assert "apt-get install -y --no-install-recommends tini" in setup
    command = exec_form(only(final, "CMD"))
    assert command[0] == "run"
    assert only(final, "STOPSIGNAL").arguments == "SIGTERM"
    healthcheck = only(final, "HEALTHCHECK").arguments
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])  # exec form
    assert probe[:2] == ["python", "-c"] and "/livez" in probe[2]
    compile(probe[2], "HEALTHCHECK", "exec")  # valid Python


def test_environment_and_ports(final: list[Instruction]) -> None:
    env = " ".join(i.arguments for i in final if i.keyword == "ENV")
    settings = dict(item.split("=", 1) for item in env.split())
    assert settings["PYTHONUNBUFFERED"] == "1" and settings["PYTHONDONTWRITEBYTECODE"] == "1"
    assert settings["QWORKER_METRICS_PORT"] == "9090"
    assert settings["QWORKER_METRICS_HOST"] == "0.0.0.0"  # reachable by probes in a container
    assert only(final, "EXPOSE").arguments == settings["QWORKER_METRICS_PORT"]
    assert only(final, "WORKDIR").arguments == "/app"


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p) or path.startswith(p.rstrip("/") + "/") for p in patterns)

    for path in (".venv/bin/python", ".git/HEAD", "qworker.db", "tests/test_sam.py", "examples/orders.py"):
        assert ignored(path), path
    for path in ("pyproject.toml", "README.md", "qworker/cli.py", "backends/redis/src/qworker_redis/keys.py"):
        assert not ignored(path), path
