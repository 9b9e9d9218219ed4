"""Audit events: an append-only record of decisions, changes and reads of personal data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime


class AuditEvent(Base):
    """One event; later issues chain these into a Merkle tree."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    actor_role: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    body: Mapped[str] = mapped_column(Text)
