"""Consent ledger tables: consents given (with evidence) and revocations received.

Rows are never updated in place: a revocation is a new row, so the ledger answers "what
did we know at time T" for replay (`recorded_at <= T`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class ConsentRecord(Base):
    """Prior express consent (pec) or prior express written consent (pewc) for one number."""

    __tablename__ = "consent_records"
    __table_args__ = (Index("ix_consent_records_number_given", "number", "given_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)  # E.164 digits as an integer
    kind: Mapped[str] = mapped_column(String(8))  # pec | pewc
    sellers: Mapped[str] = mapped_column(Text)  # JSON list of the sellers named
    channels: Mapped[str] = mapped_column(Text)  # JSON list: voice, sms, email
    purposes: Mapped[str] = mapped_column(Text)  # JSON list: telemarketing, informational, ...
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    source: Mapped[str] = mapped_column(String(32))  # web_form, paper, ivr, agent, sms, api...
    language_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    certificate_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    evidence: Mapped[str | None] = mapped_column(Text, nullable=True)  # encrypted JSON
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class ConsentRevocation(Base):
    """A revocation received by any channel, with its scope; enforced from `received_at`."""

    __tablename__ = "consent_revocations"
    __table_args__ = (Index("ix_consent_revocations_number_received", "number", "received_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    channel: Mapped[str] = mapped_column(String(16))  # sms, ivr, agent, email, web, letter...
    method: Mapped[str] = mapped_column(String(32))  # keyword, phrase, uncertain, keypress...
    seller: Mapped[str] = mapped_column(String(200))  # business unit revoked from; * = all
    scope: Mapped[str] = mapped_column(String(32))  # message type revoked: a purpose, or all
    message_channel: Mapped[str] = mapped_column(String(16))  # voice | sms | email | all
    text: Mapped[str | None] = mapped_column(Text, nullable=True)  # encrypted reply text
    basis: Mapped[str | None] = mapped_column(String(32), nullable=True)
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
