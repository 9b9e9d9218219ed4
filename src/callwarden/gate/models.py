"""The text of every rule-pack revision the gate has used, so replay can load it again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class RulePackRevision(Base):
    """One pack file as loaded: decisions name (pack id, revision); this row holds its text."""

    __tablename__ = "rule_pack_revisions"
    __table_args__ = (UniqueConstraint("pack_id", "revision", name="uq_rule_pack_revisions_pack"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pack_id: Mapped[str] = mapped_column(String(100))
    revision: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    first_loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FactChange(Base):
    """A change to a fact the gate caches: the gate's processes evict that number on sight.

    Every write to consents, revocations, EBR events, RND answers, line types, locations,
    emergencies and registrations adds a row in the same transaction (number NULL: a fact
    that is not about one number). One indexed max(id) per decision tells each process
    whether its cache is still current.
    """

    __tablename__ = "fact_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
