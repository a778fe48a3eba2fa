"""notice truth: what made each outbox row true; the mail server's circuit breaker

Revision ID: 0004_notice_truth
Revises: 0003_neutral_case_columns
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_notice_truth"
down_revision = "0003_neutral_case_columns"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("for_state", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("for_level", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("for_deadline", sa.Date(), nullable=True))
        batch.add_column(sa.Column("caused_at", sa.DateTime(), nullable=True))
    op.create_table(
        "mail_server",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("down_since", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_probe_at", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("up_since", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("mail_server")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("caused_at")
        batch.drop_column("for_deadline")
        batch.drop_column("for_level")
        batch.drop_column("for_state")
