"""Enterprise filing (备案): enterprises, roles, codes, credentials, certificates, grants.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24

Placeholder created so that three pieces of work can write their revisions side by side; the owner fills in
upgrade/downgrade and this docstring.
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
