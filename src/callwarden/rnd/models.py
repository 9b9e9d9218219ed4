"""Reassigned Numbers Database results: number + consent date -> yes / no / no data."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class RndResult(Base):
    """One RND answer: was the number permanently disconnected on or after `consent_date`?"""

    __tablename__ = "rnd_results"
    __table_args__ = (Index("ix_rnd_results_number_queried", "number", "queried_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger)
    consent_date: Mapped[date] = mapped_column(Date)
    result: Mapped[str] = mapped_column(String(8))  # yes | no | no_data
    queried_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(100))  # file name or provider name
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
