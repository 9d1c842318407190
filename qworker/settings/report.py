"""``qworker check``'s report of every effective setting and where it came from.

It walks the settings table (:mod:`qworker.settings.schema`), so a new setting shows up in the
report without being written out here. Environment variables of a function are reported by name
and source only: their values may be secrets.
"""

from __future__ import annotations

from typing import Any

from qworker.registry import redact_url
from qworker.settings.layers import DEFAULT, Effective, EffectiveFunction
from qworker.settings.schema import DEFAULT_MAX_CONCURRENCY, MAPPING, WORKER


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def display(value: Any) -> Any:
    """A value as the report shows it (whole floats as integers, tuples as lists)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def function_settings(function: EffectiveFunction) -> dict[str, dict[str, Any]]:
    """Every mapping setting's effective value and source."""
    config, spec = function.config, function.spec
    out: dict[str, dict[str, Any]] = {}
    for setting in MAPPING:
        key = setting.key
        if key == "environment" or not setting.in_file:
            continue
        value: Any = getattr(config, setting.config_field)
        if key == "retry_backoff" and value is not None:
            value = f"{_number(value.base)}:{_number(value.maximum)}"
        elif key == "max_concurrency" and value is None:
            value = DEFAULT_MAX_CONCURRENCY
        elif key == "function_name":
            value = config.name
        out[key] = {"value": display(value), "source": spec.origins.get(key, DEFAULT)}
    return out


def worker_settings(effective: Effective) -> dict[str, dict[str, Any]]:
    """Every worker setting's effective value and source; the backend URL without its secrets."""
    options = effective.options
    values = {
        "backend": redact_url(options.backend_url or ""),
        "app_dir": options.app_dir,
        "graceful_timeout": options.graceful_timeout,
        "pollers": options.pollers,
        "metrics_port": options.metrics_port,
        "metrics_host": options.metrics_host,
        "log_format": effective.log_format,
        "log_level": effective.log_level,
        "until_empty": options.until_empty,
    }
    out = {
        s.key: {"value": display(values[s.key]), "source": effective.worker_origins.get(s.key, DEFAULT)}
        for s in WORKER
    }
    if effective.extra_paths:
        out["extra_import_paths"] = {"value": effective.extra_paths, "source": "template"}
    return out
