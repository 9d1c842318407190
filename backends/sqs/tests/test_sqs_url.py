"""sqs:// URLs: options, defaults, clear errors, and never a credential (RELIABILITY.md §3.4)."""

from __future__ import annotations

import pytest

from qworker.errors import ConfigError
from qworker.registry import backend_class, open_backend
from qworker_sqs import SQSBackend
from qworker_sqs.url import SQSSettings, parse_url


def test_bare_url_leaves_everything_to_the_aws_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    monkeypatch.delenv("AWS_MAX_ATTEMPTS", raising=False)
    settings = parse_url("sqs://")
    assert settings == SQSSettings()
    assert (settings.region, settings.endpoint_url, settings.profile) == (None, None, None)
    assert (settings.retry_mode, settings.max_attempts) == ("adaptive", 5)
    assert settings.read_timeout > 20, "a 20 s long poll must not hit the read timeout"
    assert parse_url("sqs:///") == settings
    assert settings.display_url == "sqs://"


def test_every_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_RETRY_MODE", raising=False)
    url = (
        "sqs://?region=eu-west-1&endpoint_url=http://127.0.0.1:9324&profile=prod&max_connections=200"
        "&retry_mode=standard&max_attempts=8&connect_timeout=2.5&read_timeout=45"
    )
    settings = parse_url(url)
    assert settings == SQSSettings(
        region="eu-west-1",
        endpoint_url="http://127.0.0.1:9324",
        profile="prod",
        max_connections=200,
        retry_mode="standard",
        max_attempts=8,
        connect_timeout=2.5,
        read_timeout=45,
    )
    assert parse_url(settings.display_url) == settings


def test_retry_settings_come_from_the_environment_when_the_url_is_silent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "standard")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    assert (parse_url("sqs://").retry_mode, parse_url("sqs://").max_attempts) == ("standard", 3)
    assert parse_url("sqs://?max_attempts=7").max_attempts == 7


@pytest.mark.parametrize(
    "url",
    [
        "sqs://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI%2FK7MDENG@",
        "sqs://user@",
        "sqs://?aws_secret_access_key=wJalrXUtnFEMI",
        "sqs://?aws_access_key_id=AKIAIOSFODNN7EXAMPLE",
        "sqs://?aws_session_token=FwoGZXIvYXdzEJr",
        "sqs://?endpoint_url=http://user:wJalrXUtnFEMI@localhost:9324",
    ],
)
def test_credentials_are_refused_without_repeating_them(url: str) -> None:
    with pytest.raises(ConfigError, match="credential") as caught:
        parse_url(url)
    text = str(caught.value)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI", "FwoGZXIvYXdzEJr"):
        assert secret not in text


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("sqs://localhost:9324", "endpoint_url"),
        ("sqs://?endpoint=http://x", "Known options"),
        ("sqs://?region=a&region=b", "twice"),
        ("sqs://?max_connections=0", "between 1"),
        ("sqs://?max_connections=many", "whole number"),
        ("sqs://?retry_mode=legacy", "adaptive"),
        ("sqs://?read_timeout=10", "between 21"),
        ("sqs://?connect_timeout=nan", "between"),
        ("sqs://?endpoint_url=ftp://host", "http://"),
        ("redis://localhost", "sqs://"),
    ],
)
def test_bad_urls_say_what_is_wrong(url: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_url(url)


def test_the_sqs_scheme_is_registered() -> None:
    assert backend_class("sqs") is SQSBackend
    backend = open_backend("sqs://?region=eu-central-1")
    assert isinstance(backend, SQSBackend)
    assert backend.display_url == "sqs://?region=eu-central-1"
    assert backend.capabilities.max_receive_batch == 10
    assert backend.capabilities.timeout_resolution == 1
    assert not (
        backend.capabilities.peek
        or backend.capabilities.fenced_receipts
        or backend.capabilities.records_failures
    )
