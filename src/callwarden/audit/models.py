"""Audit events: an append-only record of decisions, changes and reads of personal data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime


class AuditEvent(Base):
    """One event; once sequenced (seq set) it is leaf `seq` of the Merkle tree."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200), index=True)
    actor_role: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    body: Mapped[str] = mapped_column(Text)
    # Set by the sequencer, densely 0, 1, 2... in the order events are integrated into the log.
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), nullable=True)


class AuditTreeNode(Base):
    """The hash of one complete perfect subtree: 2**level leaves starting at idx * 2**level."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed statement of the log's size and root hash at a moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, index=True)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str] = mapped_column(Text)
