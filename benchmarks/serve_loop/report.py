"""The cases, issue #15's targets, and the markdown (and JSON figures) of a run."""

from __future__ import annotations

import argparse
import os
import statistics
from typing import Any

from benchmarks.serve_loop.measure import Sample

#: the targets of issue #15
TARGET_VS_MOTO = 20.0
TARGET_VS_CLIENT = 0.5

#: the endpoints driven by wrk running loop.lua (the issue's "fast load generator")
WRK_SQLITE, WRK_REDIS, WRK_MOTO = "serve, SQLite, wrk", "serve, Redis, wrk", "moto, wrk"
#: by boto3 with its defaults (what a user runs)
SERVE_SQLITE, SERVE_REDIS, MOTO = "serve, SQLite", "serve, Redis", "moto"
#: by the lean Python client (http.client, raw JSON 1.0)
LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO = "serve, SQLite, lean", "serve, Redis, lean", "moto, lean"
#: the Python client directly on the backend
CLIENT_SQLITE, CLIENT_REDIS = "client, SQLite", "client, Redis"
CASES = (
    WRK_SQLITE, WRK_REDIS, WRK_MOTO, SERVE_SQLITE, SERVE_REDIS, MOTO,
    LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO, CLIENT_SQLITE, CLIENT_REDIS,
)  # fmt: skip
#: (name, case over, case under, target): the wrk rows are the target's headline
PAIRS = tuple(
    (f"{generator}: {top} / {bottom}", top_case, bottom_case, target)
    for generator, cases in (
        ("wrk", (WRK_SQLITE, WRK_REDIS, WRK_MOTO)),
        ("lean client", (LEAN_SQLITE, LEAN_REDIS, LEAN_MOTO)),
        ("boto3", (SERVE_SQLITE, SERVE_REDIS, MOTO)),
    )
    for top, bottom, top_case, bottom_case, target in (
        ("serve, SQLite", "moto", cases[0], cases[2], TARGET_VS_MOTO),
        ("serve, Redis", "moto", cases[1], cases[2], TARGET_VS_MOTO),
        ("serve, SQLite", "client, SQLite", cases[0], CLIENT_SQLITE, TARGET_VS_CLIENT),
        ("serve, Redis", "client, Redis", cases[1], CLIENT_REDIS, TARGET_VS_CLIENT),
    )
)


def _fmt_rates(samples: list[Sample]) -> str:
    rates = [s.rate for s in samples]
    return f"{statistics.median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})"


def median_cpu(samples: list[Sample], role: str) -> float | None:
    values = [s.cpu[role] for s in samples if role in s.cpu]
    return statistics.median(values) if values else None


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _ratios(samples: dict[str, list[Sample]], top: str, bottom: str) -> list[float]:
    return [a.rate / b.rate for a, b in zip(samples[top], samples[bottom], strict=True)]


def _how(args: argparse.Namespace) -> dict[str, str]:
    import boto3
    import moto

    processes = f"{args.clients} process" + ("es" if args.clients != 1 else "")
    tasks = f"{args.clients} task" + ("s" if args.clients != 1 else "")
    threads = f"{args.clients} thread" + ("s" if args.clients != 1 else "")
    return {
        WRK_SQLITE: f"wrk + `loop.lua`, {threads} × 1 keep-alive connection → `qworker serve` (sqlite:///)",
        WRK_REDIS: f"wrk, {threads} → `qworker serve` (redis://, private redis-server)",
        WRK_MOTO: f"wrk, {threads} → moto {moto.__version__} `ThreadedMotoServer` (serialized)",
        SERVE_SQLITE: f"boto3 {boto3.__version__}, {processes} → `qworker serve` (sqlite:///)",
        SERVE_REDIS: f"boto3, {processes} → `qworker serve` (redis://)",
        MOTO: f"boto3, {processes} → moto (serialized)",
        LEAN_SQLITE: f"lean client (`http.client`, JSON 1.0, keep-alive), {processes} → `qworker serve` "
        "(sqlite:///)",
        LEAN_REDIS: f"lean client, {processes} → `qworker serve` (redis://)",
        LEAN_MOTO: f"lean client, {processes} → moto (serialized)",
        CLIENT_SQLITE: f"`AsyncClient` + its backend, {tasks}, this process (sqlite:///)",
        CLIENT_REDIS: f"`AsyncClient` + its backend, {tasks}, this process (redis://)",
    }


def _case_rows(args: argparse.Namespace, samples: dict[str, list[Sample]]) -> list[str]:
    how = _how(args)
    lines = [
        "| case | how | messages/s | load generator CPU µs/msg | server CPU µs/msg (event loop) | "
        "redis-server µs/msg |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for case in CASES:
        server = median_cpu(samples[case], "server")
        loop = median_cpu(samples[case], "server event loop")
        server_text = _us(server) + (f" ({_us(loop)})" if loop is not None else "")
        client_text = _us(median_cpu(samples[case], "clients"))
        if case in (CLIENT_SQLITE, CLIENT_REDIS):
            client_text += f" ({_us(median_cpu(samples[case], 'clients event loop'))})"
        lines.append(
            f"| {case} | {how[case]} | {_fmt_rates(samples[case])} | {client_text} | {server_text} | "
            f"{_us(median_cpu(samples[case], 'redis-server'))} |"
        )
    return lines


def _ratio_rows(samples: dict[str, list[Sample]]) -> tuple[list[str], dict[str, Any]]:
    lines = [
        "| ratio (median of the rounds' ratios) | value | rounds | target | met |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    verdict: dict[str, Any] = {}
    for name, top, bottom, target in PAIRS:
        values = _ratios(samples, top, bottom)
        value = statistics.median(values)
        met = value >= target
        verdict[name] = {"median": round(value, 3), "rounds": [round(v, 3) for v in values], "met": met}
        target_text = f"≥ {target:g}×" if target >= 1 else f"≥ {target:.0%}"
        value_text = f"{value:.1f}×" if target >= 1 else f"{value:.0%}"
        per_round = ", ".join(f"{v:.1f}×" if target >= 1 else f"{v:.0%}" for v in values)
        name_text = f"**{name}**" if name.startswith("wrk") else name
        met_text = "yes" if met else "no"
        lines.append(f"| {name_text} | {value_text} | {per_round} | {target_text} | {met_text} |")
    return lines, verdict


def _anatomy(samples: dict[str, list[Sample]]) -> list[str]:
    """CPU per message in the wrk rows, and what each process could do with a core of its own."""

    def cpu(case: str, role: str) -> float:
        return median_cpu(samples[case], role) or 0.0

    cores = os.cpu_count() or 1
    moto_server = cpu(WRK_MOTO, "server")
    lines = ["Where the CPU goes, per message (the medians above, wrk rows):", ""]
    rows = ((WRK_SQLITE, CLIENT_SQLITE, SERVE_SQLITE), (WRK_REDIS, CLIENT_REDIS, SERVE_REDIS))
    for serve, client, boto in rows:
        wrk, server, store = cpu(serve, "clients"), cpu(serve, "server"), cpu(serve, "redis-server")
        loop = cpu(serve, "server event loop")
        direct, direct_store = cpu(client, "clients"), cpu(client, "redis-server")
        total = wrk + server + store
        boto3_us = cpu(boto, "clients")
        lines.append(
            f"* **{serve}**: {total:,.0f} µs of CPU per message: wrk {wrk:,.0f}, the server "
            f"{server:,.0f} (its event-loop thread {loop:,.0f})"
            + (f", redis-server {store:,.0f}" if store else "")
            + f"; the Python client's loop costs {direct + direct_store:,.0f}"
            + (f" (redis-server {direct_store:,.0f} of it)" if direct_store else "")
            + f" ({cores} cores: the client loop's CPU bound is {cores * 1e6 / (direct + direct_store):,.0f} "
            f"msgs/s, the serve loop's {cores * 1e6 / total:,.0f}; one event-loop thread caps the server at "
            f"{1e6 / loop if loop else 0:,.0f}). Per message the server process costs "
            f"{server / direct:.1f}× the Python client's process and {moto_server / server:.0f}× less than "
            f"moto's ({moto_server:,.0f} µs). boto3 spends {boto3_us:,.0f} µs a message in its own process."
        )
    return lines


def report(
    args: argparse.Namespace, samples: dict[str, list[Sample]], anatomy: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    ratio_lines, verdict = _ratio_rows(samples)
    lines = [
        "## The SQS loop through `qworker serve`, moto's server and the Python client (issue #15)",
        "",
        "One loop: `SendMessageBatch` (10 bodies of ~100 bytes), `ReceiveMessage` "
        "(`MaxNumberOfMessages=10`, `WaitTimeSeconds=0`), `DeleteMessageBatch` of what came; "
        f"{args.clients} loops at once, a fresh standard queue per case; messages/s deleted in a "
        f"{args.seconds:g} s window after {args.warmup:g} s of warm-up; median (min–max) of "
        f"{args.rounds} interleaved rounds. The load generators: wrk with "
        "`benchmarks/serve_loop/loop.lua` (one thread and one keep-alive connection per loop, the "
        "deletes answered inside the window counted by the script; the issue's fast load "
        "generator, the headline rows), boto3 (what a user runs) and a lean Python client. CPU µs "
        "per message over the window (`/proc`, all threads): the load generator's processes (for "
        "the client rows: this process, backend included, its event-loop thread in brackets), "
        "the server process (its event-loop thread in brackets), redis-server.",
        "",
        *_case_rows(args, samples),
        "",
        *ratio_lines,
        "",
        *_anatomy(samples),
    ]
    for case, text in anatomy.items():
        lines += ["", f"### {case}: the server's event-loop thread under py-spy", "", text]
    figures = {
        "bench": "serve-loop",
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "msgs_per_s": {case: [round(s.rate) for s in samples[case]] for case in CASES},
        "cpu_us_per_msg": {
            case: {role: round(median_cpu(samples[case], role) or 0.0, 1) for role in samples[case][0].cpu}
            for case in CASES
        },
        "ratios": verdict,
    }
    return "\n".join(lines), figures
