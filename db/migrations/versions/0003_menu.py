"""conversation.menu: the choices last offered move out of the flow state

Revision ID: 0003_menu
Revises: 0001_core
Create Date: 2026-12-01 02:30:00

Earlier versions kept the pending menu inside ``conversation.state`` under ``_menu`` and
``_numbered``. Conversations in flight keep working: their menu is copied into the new column
and the two keys are dropped from the state.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0003_menu'
down_revision: str | Sequence[str] | None = '0001_core'
branch_labels: str | Sequence[str] | None = ('menu',)
depends_on: str | Sequence[str] | None = None

_conv = sa.table(
    'conversation',
    sa.column('id', sa.Integer()),
    sa.column('state', sa.JSON()),
    sa.column('menu', sa.JSON()),
)


def _moved(state: Any) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
    if not isinstance(state, dict) or not ({'_menu', '_numbered', '_reprompt'} & set(state)):
        return None
    items = state.get('_menu')
    menu = {'c': items, 'n': bool(state.get('_numbered', True))} if items else None
    rest = {k: v for k, v in state.items() if k not in ('_menu', '_numbered', '_reprompt')}
    return rest, menu


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('menu', sa.JSON(), nullable=True))
    conn = op.get_bind()
    for row_id, state in conn.execute(sa.select(_conv.c.id, _conv.c.state)).all():
        moved = _moved(state)
        if moved is not None:
            rest, menu = moved
            conn.execute(
                _conv.update().where(_conv.c.id == row_id).values(state=rest, menu=menu)
            )


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('menu')
