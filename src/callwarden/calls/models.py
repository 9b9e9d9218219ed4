"""Call history: every attempt (reserved by the gate, or placed and reported) and its outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class CallAttempt(Base):
    """One call or text attempt.

    `state` is reserved (the gate allowed it; counts toward caps until `expires_at`), placed
    (a call record arrived) or released (the dialer gave it back). Caps count placed rows and
    unexpired reservations.
    """

    __tablename__ = "call_attempts"
    __table_args__ = (
        Index("ix_call_attempts_number_at", "number", "at"),
        Index("ix_call_attempts_debt_at", "debt_id", "at"),
        Index("ix_call_attempts_campaign_at", "campaign", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(16))  # reserved | placed | released
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_id: Mapped[str | None] = mapped_column(String(36), nullable=True, unique=True)
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    seller: Mapped[str] = mapped_column(String(200))
    campaign: Mapped[str | None] = mapped_column(String(200), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(200), nullable=True)
    debt_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(32))
    technology: Mapped[str] = mapped_column(String(32))
    caller_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # outcome: not_connected | no_answer | busy | voicemail | answered | abandoned (None: pending)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    answered_by_person: Mapped[bool] = mapped_column(Boolean, default=False)
    conversation: Mapped[bool] = mapped_column(Boolean, default=False)
    voicemail: Mapped[bool] = mapped_column(Boolean, default=False)
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    dnc_request: Mapped[bool] = mapped_column(Boolean, default=False)
    disposition: Mapped[str | None] = mapped_column(String(100), nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(16))  # gate | api | import
    # A reservation confirmed by a call record or released is changed in place; these keep
    # what a replay as of an earlier time must see: when it changed, and the planned time.
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    planned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
