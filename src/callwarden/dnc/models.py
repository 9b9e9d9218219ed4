"""Do-Not-Call tables: lists, snapshots (imports), coverage, changes and the internal list.

The database and the archived source files are the source of truth; the
memory-mapped index files under the data directory are derived from them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callwarden.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


class DncList(Base):
    """One list callwarden honours: national, a state's, Canada's, internal, or a custom list."""

    __tablename__ = "dnc_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    max_age_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    index_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    index_generation: Mapped[int] = mapped_column(Integer, default=0)
    entries: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DncSnapshot(Base):
    """One import of a list's data: what was read, from where, as of when, and what came of it."""

    __tablename__ = "dnc_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("dnc_lists.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # full | changes
    format: Mapped[str] = mapped_column(String(32))
    area_codes: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON list; NULL = all
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # importing | complete | failed
    files: Mapped[str] = mapped_column(Text)  # JSON: name, bytes, sha256, archived
    lines_read: Mapped[int] = mapped_column(BigInteger, default=0)
    added: Mapped[int] = mapped_column(BigInteger, default=0)
    deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicates: Mapped[int] = mapped_column(BigInteger, default=0)
    total_after: Mapped[int] = mapped_column(BigInteger, default=0)
    index_path: Mapped[str | None] = mapped_column(String(500), nullable=True)
    imported_by: Mapped[str] = mapped_column(String(200))
    worker: Mapped[str | None] = mapped_column(
        String(300), nullable=True
    )  # host:pid while importing
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class DncSnapshotError(Base):
    """A malformed line met during an import (the first few thousand are kept; all are counted)."""

    __tablename__ = "dnc_snapshot_errors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("dnc_snapshots.id"), index=True)
    file: Mapped[str] = mapped_column(String(500))
    line_no: Mapped[int] = mapped_column(BigInteger)
    content: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(200))


class DncCoverage(Base):
    """Which area codes a list's data covers and as of when (npa NULL = every area code)."""

    __tablename__ = "dnc_coverage"
    __table_args__ = (Index("ix_dnc_coverage_list_npa", "list_id", "npa", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("dnc_lists.id"))
    npa: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("dnc_snapshots.id"))
    obtained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class DncNumberChange(Base):
    """A dated addition or deletion from a change list (answers "listed since when")."""

    __tablename__ = "dnc_number_changes"
    __table_args__ = (Index("ix_dnc_number_changes_list_number", "list_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("dnc_lists.id"))
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("dnc_snapshots.id"))
    number: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(1))  # A | D
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class DncInternalEntry(Base):
    """A consumer's request not to be contacted by this company (never auto-expired)."""

    __tablename__ = "dnc_internal_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, index=True)  # E.164 digits as an integer
    channel: Mapped[str] = mapped_column(String(16))  # voice | sms | email | all
    seller: Mapped[str] = mapped_column(String(200))  # a brand, or * for every brand
    source: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())
    added_by: Mapped[str] = mapped_column(String(200))
    added_role: Mapped[str] = mapped_column(String(32))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    removed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    removal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class DncInternalEvent(Base):
    """Ordered change feed of the internal list; every process replays it to stay current."""

    __tablename__ = "dnc_internal_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("dnc_internal_entries.id"))
    number: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8))  # add | remove
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class DncSync(Base):
    """A single row whose generation moves whenever any list's index changes."""

    __tablename__ = "dnc_sync"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)
