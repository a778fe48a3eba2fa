"""web security: revocable sessions (app_user.session_epoch), API tokens with an expiry
and a scope; the link-signing key leaves the database (the app_secret row is moved to
the key file by the first process that needs it, see notifications/links.py)

Revision ID: 0005_web_security
Revises: 0004_notice_truth
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_web_security"
down_revision = "0004_notice_truth"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch.add_column(sa.Column("api_token_expires_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("api_token_scope", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as batch:
        batch.drop_column("api_token_scope")
        batch.drop_column("api_token_expires_at")
        batch.drop_column("session_epoch")
