"""replay history for in-place updates

An EBR's end, an emergency's end and a reservation's confirmation or release change rows in
place. These columns and this table keep what a replay as of an earlier time must see. The
history that already exists is filled in from the audit trail, which recorded every such change.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:30:54.419503
"""

import json
from datetime import datetime

import sqlalchemy as sa
from alembic import op

from callwarden.db import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "emergency_ends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("emergency_id", sa.Integer(), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("previous_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["emergency_id"],
            ["emergencies.id"],
            name=op.f("fk_emergency_ends_emergency_id_emergencies"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_ends")),
    )
    op.create_index(
        op.f("ix_emergency_ends_emergency_id"), "emergency_ends", ["emergency_id"], unique=False
    )
    # nullable, no default: O(1) on both databases, however long the history is
    op.add_column("call_attempts", sa.Column("settled_at", sa.DateTime(timezone=True)))
    op.add_column("call_attempts", sa.Column("planned_at", sa.DateTime(timezone=True)))
    op.add_column("ebr_events", sa.Column("ended_recorded_at", sa.DateTime(timezone=True)))
    _backfill(op.get_bind())


def _backfill(conn: sa.Connection) -> None:
    # Reservations settled before this revision keep NULL (not known): a replay sees them as
    # they are now, as every replay did before.
    events = sa.table(
        "audit_events",
        sa.column("type", sa.String),
        sa.column("actor", sa.String),
        sa.column("occurred_at", UTCDateTime()),
        sa.column("body", sa.Text),
    )
    ebr = sa.table(
        "ebr_events",
        sa.column("id", sa.Integer),
        sa.column("ended_on", sa.Date),
        sa.column("recorded_at", UTCDateTime()),
        sa.column("ended_recorded_at", UTCDateTime()),
    )
    ended = {}
    for at, body in conn.execute(
        sa.select(events.c.occurred_at, events.c.body).where(events.c.type == "ebr.ended")
    ):
        ended[int(json.loads(body)["ebr_id"])] = at
    for row_id, recorded in conn.execute(
        sa.select(ebr.c.id, ebr.c.recorded_at).where(ebr.c.ended_on.is_not(None))
    ):
        # no ebr.ended event: the end came with the event itself (an import or an add)
        conn.execute(
            ebr.update()
            .where(ebr.c.id == row_id)
            .values(ended_recorded_at=ended.get(row_id, recorded))
        )
    ends = sa.table(
        "emergency_ends",
        sa.column("emergency_id", sa.Integer),
        sa.column("ends_at", UTCDateTime()),
        sa.column("previous_ends_at", UTCDateTime()),
        sa.column("recorded_at", UTCDateTime()),
        sa.column("recorded_by", sa.String),
    )
    rows = []
    query = sa.select(events.c.occurred_at, events.c.actor, events.c.body).where(
        events.c.type == "emergencies.ended"
    )
    for at, actor, body in conn.execute(query):
        data = json.loads(body)
        previous = data.get("previous_ends_at")
        rows.append(
            {
                "emergency_id": int(data["id"]),
                "ends_at": datetime.fromisoformat(data["ends_at"]),
                "previous_ends_at": datetime.fromisoformat(previous) if previous else None,
                "recorded_at": at,
                "recorded_by": actor,
            }
        )
    if rows:
        conn.execute(ends.insert(), rows)


def downgrade() -> None:
    # batch mode: SQLite drops a column by copying the table
    with op.batch_alter_table("ebr_events") as batch:
        batch.drop_column("ended_recorded_at")
    with op.batch_alter_table("call_attempts") as batch:
        batch.drop_column("planned_at")
        batch.drop_column("settled_at")
    op.drop_index(op.f("ix_emergency_ends_emergency_id"), table_name="emergency_ends")
    op.drop_table("emergency_ends")
