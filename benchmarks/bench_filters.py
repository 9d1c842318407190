"""Throughput of the FilterCriteria engine: parse (json.loads) and match, per record.

Run ``python -m benchmarks.bench_filters``. Records carry ~1 KiB JSON bodies (deterministic, about
half of them match the typical pattern). Each figure is the best of ``--repeat`` passes over all
records; the table goes to stdout and to the ``filters`` section of ``benchmarks/RESULTS.md``.

Rows: *parse* = ``parse_body`` (one ``json.loads`` per record, done once however many filters);
*match* = ``FilterCriteria.matches(record, parsed_body)``; *parse + match* = ``matches(record)``,
the end-to-end cost when the runtime lets the criteria parse the body.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from benchmarks.results import write_section
from qworker.filters import FilterCriteria, parse_body

TYPICAL = {
    "body": {
        "type": ["order"],
        "amount": [{"numeric": [">", 100]}],
        "region": [{"prefix": "eu-"}],
    }
}

SHAPES: list[tuple[str, list[dict[str, Any]], bool]] = [
    ("1 exact field", [{"body": {"type": ["order"]}}], False),
    ("typical 3 fields (exact, numeric, prefix)", [TYPICAL], False),
    ("nested 3 levels", [{"body": {"customer": {"address": {"country": ["FR", "DE"]}}}}], False),
    (
        "$or of 3 alternatives",
        [
            {
                "body": {
                    "$or": [
                        {"type": ["refund"]},
                        {"priority": [{"numeric": [">=", 8]}]},
                        {"region": ["us-east-1"]},
                    ]
                }
            }
        ],
        False,
    ),
    (
        "array of objects (any element)",
        [{"body": {"items": {"sku": [{"prefix": "sku-1"}], "qty": [{"numeric": [">", 5]}]}}}],
        False,
    ),
    (
        "anything-but list + exists",
        [{"body": {"status": [{"anything-but": ["cancelled", "failed"]}], "coupon": [{"exists": False}]}}],
        False,
    ),
    ("5 filters ORed, none matches", [{"body": {"type": [f"nope-{i}"]}} for i in range(5)], False),
    ("attributes only (body not parsed)", [{"attributes": {"ApproximateReceiveCount": ["1", "2"]}}], False),
    ("wildcard (extension)", [{"body": {"customer": {"email": [{"wildcard": "*@example.c*"}]}}}], True),
]


def make_body(rng: random.Random, index: int) -> str:
    """A ~1 KiB order-like JSON document."""
    items = [
        {
            "sku": f"sku-{rng.randint(1, 999)}",
            "qty": rng.randint(1, 9),
            "price": round(rng.uniform(1, 200), 2),
        }
        for _ in range(rng.randint(4, 8))
    ]
    doc = {
        "id": f"order-{index:08d}",
        "type": rng.choice(["order", "order", "refund", "quote"]),
        "amount": round(rng.uniform(0, 300), 2),
        "region": rng.choice(["eu-west-1", "eu-central-1", "us-east-1", "ap-south-1"]),
        "priority": rng.randint(0, 9),
        "status": rng.choice(["new", "paid", "cancelled", "failed", "shipped"]),
        "customer": {
            "name": "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=12)),
            "email": f"user{index}@example.{rng.choice(['com', 'org'])}",
            "address": {"city": "Paris", "country": rng.choice(["FR", "DE", "US", "IN"]), "zip": "75001"},
        },
        "items": items,
        "notes": "",
    }
    text = json.dumps(doc)
    doc["notes"] = "x" * max(0, 1024 - len(text))
    return json.dumps(doc)


def make_records(count: int) -> list[dict[str, Any]]:
    rng = random.Random(42)
    return [
        {
            "messageId": f"{i:08d}-0000-4000-8000-000000000000",
            "receiptHandle": "AQEB" + "x" * 100,
            "body": make_body(rng, i),
            "attributes": {
                "ApproximateReceiveCount": str(rng.randint(1, 3)),
                "SentTimestamp": "1545082649183",
                "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                "ApproximateFirstReceiveTimestamp": "1545082649185",
            },
            "messageAttributes": {},
            "md5OfMessageAttributes": None,
            "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        }
        for i in range(count)
    ]


def _parse_all(records: list[dict[str, Any]]) -> None:
    for record in records:
        parse_body(record["body"])  # results dropped at once, as in the runtime


def _match_parsed(matches: Callable[..., bool], pairs: list[tuple[dict[str, Any], Any]]) -> None:
    for record, body in pairs:
        matches(record, body)


def _match_unparsed(matches: Callable[..., bool], records: list[dict[str, Any]]) -> None:
    for record in records:
        matches(record)


def best_ns_per_item(run: Callable[[], object], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        run()
        best = min(best, (time.perf_counter_ns() - start) / count)
    return best


def measure(records: list[dict[str, Any]], repeat: int) -> list[tuple[str, float, str]]:
    """Rows of (what, ns per record, matched share)."""
    count = len(records)
    rows: list[tuple[str, float, str]] = []
    parsed = [parse_body(r["body"]) for r in records]
    pairs = list(zip(records, parsed, strict=True))
    rows.append(
        (
            "parse: parse_body (json.loads), 1 KiB body",
            best_ns_per_item(partial(_parse_all, records), count, repeat),
            "-",
        )
    )
    for name, patterns, extensions in SHAPES:
        criteria = FilterCriteria.compile([json.dumps(p) for p in patterns], extensions=extensions)
        matches = criteria.matches
        hits = sum(matches(r, b) for r, b in pairs)
        share = f"{100 * hits / count:.0f}%"
        rows.append(
            (
                f"match: {name}",
                best_ns_per_item(partial(_match_parsed, matches, pairs), count, repeat),
                share,
            )
        )
        if name.startswith("typical"):
            rows.append(
                (
                    "parse + match: typical, matches(record)",
                    best_ns_per_item(partial(_match_unparsed, matches, records), count, repeat),
                    share,
                )
            )
    return rows


def to_markdown(rows: list[tuple[str, float, str]], count: int) -> str:
    lines = [
        "## Filters (FilterCriteria)",
        "",
        f"{count} records with ~1 KiB JSON bodies; best of several passes; CPython "
        f"{sys.version.split()[0]}, single thread.",
        "",
        "| what | ns / record | records / s | matched |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, ns, share in rows:
        lines.append(f"| {what} | {ns:,.0f} | {1e9 / ns:,.0f} | {share} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000, help="records per pass (default 20000)")
    parser.add_argument("--repeat", type=int, default=7, help="passes; the best one counts (default 7)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = parser.parse_args(argv)
    records = make_records(args.records)
    size = sum(len(r["body"]) for r in records) / len(records)
    rows = measure(records, args.repeat)
    markdown = to_markdown(rows, args.records).replace("~1 KiB", f"{size:,.0f}-byte")
    print(markdown)
    if not args.no_write:
        command = "python -m benchmarks.bench_filters" + ("" if argv is None else " " + " ".join(argv))
        path = write_section("filters", markdown, command.strip())
        print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
