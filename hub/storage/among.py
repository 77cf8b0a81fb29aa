"""A column among many values, as one statement text whatever their number.

``column IN (:v1, :v2, …)`` has a text of its own for each count of values. On PostgreSQL that
costs every execution: SQLAlchemy expands the list anew, and psycopg parses anew (it caches no
statement of more than 50 parameters) a statement that a batch of families runs several times
(``docs/benchmarks.md``, "Where a PostgreSQL worker's time goes"). ``column = ANY(:values)``
binds the list as one array: one text, compiled and parsed once. SQLite has no arrays; there the
``IN`` list stays, and callers keep slicing it (:func:`hub.storage.positions.chunks`) below its
limit of bound parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Connection, any_, bindparam


def among(
    connection: Connection, column: ColumnElement[Any], values: Sequence[Any]
) -> ColumnElement[bool]:
    """``column`` equal to one of ``values``, in the form ``connection``'s database runs
    cheapest: an array parameter on PostgreSQL, an ``IN`` list elsewhere."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)
