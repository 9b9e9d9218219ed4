"""Settings: environment variables prefixed CALLWARDEN_, optionally a settings file."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every tunable of the service, read once from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CALLWARDEN_",
        env_file=os.environ.get("CALLWARDEN_SETTINGS_FILE"),
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(default=Path("./callwarden-data"))
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "info"
    # 16 CFR 310.4(b)(3)(iv) / 47 CFR 64.1200(c)(2)(i)(D): registry copy no older than 31 days.
    dnc_max_age_days: int = 31
    dnc_archive_sources: bool = True
    dnc_batch_limit: int = 100_000
    # Index files kept per list (the newest first). Two at least: another process may still
    # map the previous one. More keep replays (`check --as-of`) exact further back, at the
    # index's size each time (~330 MB for the whole national registry).
    dnc_keep_indexes: int = Field(default=2, ge=2)
    scrub_batch_rows: int = 500_000
    audit_checkpoint_seconds: float = 60.0
    audit_sequence_seconds: float = 1.0
    # An allowed attempt holds its place under every cap until a call record arrives or
    # this many seconds pass (then the dialer must ask again).
    # how long an allowed attempt's reservation counts toward caps after its planned time when
    # no call record or release arrives: long enough for a long call and a late CDR
    gate_reservation_seconds: int = 3600
    # Extra rule-pack directories (company policy, stricter than the law), comma-separated.
    rule_pack_dirs: str = ""
    gate_batch_limit: int = 10_000
    # Requests served at once; the rest wait (without blocking anything) for a free slot.
    # Keep it below the database pool (db_pool_size) so a request never waits for a
    # connection while holding one: that wait could block the event loop for good.
    max_concurrent_requests: int = 16
    db_pool_size: int = 24
    # FastAPI's OpenTelemetry spans, metrics and logs, for an operator who has configured
    # OpenTelemetry providers. Off by default: the check alone cost 3% of a decision's CPU.
    opentelemetry: bool = False

    @property
    def extra_rule_pack_dirs(self) -> list[Path]:
        """The company-policy pack directories named in `rule_pack_dirs`."""
        return [Path(p.strip()) for p in self.rule_pack_dirs.split(",") if p.strip()]

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'callwarden.db').resolve()}"

    @property
    def dnc_dir(self) -> Path:
        """Where DNC index files and archived source files live."""
        return self.data_dir / "dnc"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own)."""
    return Settings()
