"""Secrets never reach a log line."""

from __future__ import annotations

import json

import pytest
import structlog

from callwarden.logging import configure, get_logger

TOKEN = "cw_0123456789ab_" + "A" * 43


@pytest.fixture(autouse=True)
def _restore_logging():
    """configure() binds the test's captured stderr: put the defaults back afterwards."""
    yield
    structlog.reset_defaults()


def test_api_keys_and_credential_fields_are_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info")
    get_logger("t").info(
        "request", note=f"used {TOKEN} here", authorization=f"Bearer {TOKEN}", nested={"token": "x"}
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert TOKEN not in line
    assert event["note"] == "used cw_[REDACTED] here"
    assert event["authorization"] == "[REDACTED]" and event["nested"]["token"] == "[REDACTED]"


def test_logs_go_to_stderr_not_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info")
    get_logger("t").info("hello")
    captured = capsys.readouterr()
    assert captured.out == "" and "hello" in captured.err
