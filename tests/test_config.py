"""Settings: environment variables with the CALLWARDEN_ prefix and an optional settings file."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from callwarden import config


def test_defaults_to_sqlite_in_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CALLWARDEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("CALLWARDEN_DATA_DIR", str(tmp_path / "d"))
    s = config.Settings()
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'd' / 'callwarden.db').resolve()}"
    assert s.dnc_max_age_days == 31


def test_environment_and_settings_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "callwarden.env"
    env_file.write_text("CALLWARDEN_PORT=9123\nCALLWARDEN_DNC_MAX_AGE_DAYS=30\n")
    monkeypatch.setenv("CALLWARDEN_SETTINGS_FILE", str(env_file))
    monkeypatch.setenv("CALLWARDEN_DATABASE_URL", "postgresql+psycopg://u@h/db")
    reloaded = importlib.reload(config)
    try:
        s = reloaded.Settings()
        assert (s.port, s.dnc_max_age_days) == (9123, 30)
        assert s.resolved_database_url == "postgresql+psycopg://u@h/db"
    finally:
        monkeypatch.delenv("CALLWARDEN_SETTINGS_FILE")
        importlib.reload(config)


def test_bad_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLWARDEN_PORT", "eighty")
    with pytest.raises(ValueError, match="port"):
        config.Settings()


def test_fastapi_telemetry_follows_the_opentelemetry_setting(settings: config.Settings) -> None:
    """FastAPI's native OpenTelemetry is off unless asked for (its per-request check of the
    global providers cost 3% of a decision), and on, as FastAPI ships it, when asked for."""
    from callwarden.app import create_app

    kinds = ("tracing", "metrics", "logs")
    off = create_app(settings)
    assert not any(off._telemetry[k] for k in kinds)  # type: ignore[literal-required]
    assert not off._native_telemetry.enabled()
    on = create_app(settings.model_copy(update={"opentelemetry": True}))
    assert all(on._telemetry[k] for k in kinds)  # type: ignore[literal-required]
    for app in (off, on):
        app.state.engine.dispose()
