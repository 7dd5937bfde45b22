"""A writer of many concerns may count them into the hotspot aggregate once, before it commits.

The statement-level trigger counts every INSERT's concerns as it happens. A concern import writes a
million rows in chunks, and scattered rows touch most of the lattice in every chunk, so counting per
chunk upserts nearly the same aggregate rows again and again. A transaction that sets
`csmap.hotspot_counts` to `deferred` (SET LOCAL) has its inserted concerns left uncounted by the
trigger; it must then call `hotspot_add_concerns(ids)` with their ids before it commits, which
counts them all in one statement. Nothing else changes: updates, deletes and every other writer are
counted as before.

Revision ID: 0013_hotspot_deferred_counts
Revises: 0012_small_area_cells
Create Date: 2026-12-03
"""

import importlib.util
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from types import ModuleType

from alembic import op

revision: str = "0013_hotspot_deferred_counts"
down_revision: str | None = "0012_small_area_cells"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


@cache
def _aggregate() -> ModuleType:
    """The migration that made the aggregate, for its statement builders (one text of each)."""
    path = Path(__file__).with_name("2026-11-21_hotspot_aggregate.py")
    spec = importlib.util.spec_from_file_location("csmap_hotspot_aggregate_migration", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _inserted_trigger(deferrable: bool) -> str:
    """The concern INSERT trigger's function, skipping deferred transactions when `deferrable`."""
    aggregate = _aggregate()
    skip = (
        """
    IF current_setting('csmap.hotspot_counts', true) = 'deferred' THEN
        RETURN NULL;
    END IF;"""
        if deferrable
        else ""
    )
    return f"""
CREATE OR REPLACE FUNCTION hotspot_concern_inserted() RETURNS trigger
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
BEGIN{skip}
    {aggregate.add_facts(aggregate.CONCERN_FACTS, "new_concerns")};
    RETURN NULL;
END
$$;
"""


def _add_concerns() -> str:
    """A function counting some concerns in (their facts and cells), in one statement."""
    aggregate = _aggregate()
    rows = "(SELECT * FROM concern WHERE id = ANY(ids))"
    return f"""
CREATE FUNCTION hotspot_add_concerns(ids integer[]) RETURNS void
LANGUAGE plpgsql SET work_mem = '256MB' AS $$
BEGIN
    IF cardinality(ids) = 0 THEN
        RETURN;
    END IF;
    {aggregate.add_facts(aggregate.CONCERN_FACTS, rows)};
END
$$;
"""


def upgrade() -> None:
    """Let the INSERT trigger skip deferred transactions, and add the function that counts them."""
    op.execute(_inserted_trigger(deferrable=True))
    op.execute(_add_concerns())


def downgrade() -> None:
    """Count every INSERT again, and drop the function."""
    op.execute("DROP FUNCTION hotspot_add_concerns(integer[])")
    op.execute(_inserted_trigger(deferrable=False))
