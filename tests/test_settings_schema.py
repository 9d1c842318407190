"""One settings schema (issue 14 §5): the command line, the environment, the config file and
``qworker check``'s report all come from :mod:`qworker.settings.schema`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from qworker.cli import cli
from qworker.commands.run import run_command
from qworker.runtime.config import InvalidMappingConfig, MappingConfig
from qworker.settings.schema import BY_KEY, MAPPING, SETTINGS
from qworker.settings.sources import MAPPING_VOCABULARY, WORKER_VOCABULARY


def test_every_command_line_setting_is_an_option_with_its_environment_variable() -> None:
    params = {p.name: p for p in run_command.params}
    for setting in SETTINGS:
        if not setting.on_command_line:
            assert setting.key not in params
            continue
        param = params[setting.key]
        assert param.envvar == setting.envvar, setting.key
        if not setting.argument:
            assert setting.flag in param.opts, setting.key
    assert (
        BY_KEY["filters"].envvar == "QWORKER_FILTER" and BY_KEY["batch_size"].envvar == "QWORKER_BATCH_SIZE"
    )


def test_help_marks_what_goes_beyond_lambda() -> None:
    text = CliRunner().invoke(cli, ["run", "--help"], terminal_width=200).output
    for setting in SETTINGS:
        if setting.on_command_line and not setting.argument:
            assert setting.flag in text, setting.flag
    assert "[qworker] Extend running messages' visibility" in text
    assert "BatchSize: records per invocation" in text


def test_file_vocabularies_come_from_the_schema() -> None:
    assert set(MAPPING_VOCABULARY) == {s.key for s in MAPPING if s.in_file}
    assert "until_empty" not in WORKER_VOCABULARY and "backend" in WORKER_VOCABULARY


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 0, "Value '0' at 'batchSize' failed to satisfy constraint"),
        ("batch_size", 10_001, "Member must have value less than or equal to 10000"),
        ("max_concurrency", 1, "at 'scalingConfig.maximumConcurrency'"),
        ("memory", 64, "at 'memorySize' failed to satisfy constraint: Member must have value greater"),
        ("timeout", 0, "--timeout must be more than 0 and at most 900, not 0."),
        ("max_filters", 11, "--max-filters must be at least 1 and at most 10, not 11."),
        ("heartbeat", -1.0, "--visibility-heartbeat must be more than 0, not -1."),
    ],
)
def test_ranges_are_checked_from_the_schema_with_aws_wording(field: str, value: object, message: str) -> None:
    config = MappingConfig(handler="app:handler", queue="q", **{field: value})  # type: ignore[arg-type]
    with pytest.raises(InvalidMappingConfig) as caught:
        config.validate(fifo=False)
    assert message in str(caught.value)
