"""Established business relationship events: purchases, transactions, inquiries, applications."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class EbrEvent(Base):
    """One qualifying event between a consumer (by number) and a seller."""

    __tablename__ = "ebr_events"
    __table_args__ = (Index("ix_ebr_events_number_seller", "number", "seller"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    seller: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))  # purchase | transaction | inquiry | application
    occurred_on: Mapped[date] = mapped_column(Date)
    ended_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # ended by either party
    # when the end was recorded: a replay as of an earlier time still sees the relationship
    ended_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
