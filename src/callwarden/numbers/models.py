"""Facts about a number from data sources: its line type and the customer's known locations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class LineTypeRecord(Base):
    """A data source's statement of a number's line type as of a date (newest wins)."""

    __tablename__ = "number_line_types"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, index=True)
    line_type: Mapped[str] = mapped_column(String(16))  # wireless | landline | voip
    source: Mapped[str] = mapped_column(String(100))
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class CustomerLocation(Base):
    """A location the CRM knows for the customer behind a number (mailing or billing address)."""

    __tablename__ = "customer_locations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, index=True)
    country: Mapped[str] = mapped_column(String(2))
    state: Mapped[str | None] = mapped_column(String(3), nullable=True)
    zip: Mapped[str | None] = mapped_column(String(10), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # mailing | billing | other
    source: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
