"""Declared states of emergency (jurisdiction, from, to) and seller registrations."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime


class Emergency(Base):
    """A declared state of emergency in a jurisdiction (e.g. US-LA), open-ended until `ends_at`."""

    __tablename__ = "emergencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(8), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    description: Mapped[str] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(300), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class EmergencyEnd(Base):
    """One recorded end of an emergency (an end may be brought forward, never pushed back).

    The emergency's row holds the latest end; these rows let a replay as of an earlier time
    see the end that was on record then.
    """

    __tablename__ = "emergency_ends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    emergency_id: Mapped[int] = mapped_column(Integer, ForeignKey("emergencies.id"), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    previous_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class SellerRegistration(Base):
    """A seller's telemarketing registration in a jurisdiction (e.g. Texas ch. 302)."""

    __tablename__ = "seller_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seller: Mapped[str] = mapped_column(String(200), index=True)
    jurisdiction: Mapped[str] = mapped_column(String(8))
    registration_id: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
