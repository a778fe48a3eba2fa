"""Neutral case columns: the period a case covers and the countries it concerns.

Trips, NGO projects and agreements shared columns named for trips
(``planned_departure`` held a project's start). They are renamed for what they hold:
``planned_start``/``planned_end`` (a trip's planned travel, a project's implementation
period, an agreement's term), ``actual_start``/``actual_end`` (what really happened)
and ``country_codes`` (ISO codes: destinations, a donor's or partner's country). Notices still in the
outbox carry the old names in their context; they are renamed too, so a notice
queued before the upgrade renders the same after it.

Revision ID: 0003_neutral_case_columns
Revises: 0002_notifications
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_neutral_case_columns"
down_revision = "0002_notifications"
branch_labels = None
depends_on = None

RENAMES = {
    "planned_departure": "planned_start",
    "planned_return": "planned_end",
    "actual_departure": "actual_start",
    "actual_return": "actual_end",
    "destinations": "country_codes",
}


def _rename_columns(mapping: dict[str, str]) -> None:
    # RENAME COLUMN in place (SQLite >= 3.25 and PostgreSQL alike): a batch copy of the
    # table would have to drop "case", which the timers, events and outbox point at.
    for old, new in mapping.items():
        op.execute(f'ALTER TABLE "case" RENAME COLUMN {old} TO {new}')


def _rename_context_keys(mapping: dict[str, str]) -> None:
    conn = op.get_bind()
    outbox = sa.table("outbox", sa.column("id"), sa.column("status"), sa.column("context", sa.JSON))
    rows = conn.execute(
        sa.select(outbox.c.id, outbox.c.context).where(outbox.c.status != "sent")
    ).all()
    for row_id, context in rows:
        changed = _renamed(context or {}, mapping)
        if changed != context:
            conn.execute(outbox.update().where(outbox.c.id == row_id).values(context=changed))


def _renamed(value, mapping):
    if isinstance(value, dict):
        return {mapping.get(k, k): _renamed(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, mapping) for v in value]
    return value


def upgrade() -> None:
    _rename_columns(RENAMES)
    _rename_context_keys(RENAMES)


def downgrade() -> None:
    back = {new: old for old, new in RENAMES.items()}
    _rename_context_keys(back)
    _rename_columns(back)
