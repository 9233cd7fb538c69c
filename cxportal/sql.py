"""Set-based writes the ORM has no words for: ``INSERT INTO … SELECT …``.

Core (no app imports). ``insert_select`` turns a queryset into the rows of another table
in one statement, so bulk work (raising care flags, building a campaign's audience) never
loops over rows in Python.
"""

from collections.abc import Mapping

from django.db import connection
from django.db.models import Expression, Model, QuerySet


def insert_select(
    model: type[Model], columns: Mapping[str, Expression], qs: QuerySet, *, skip_conflicts: bool
) -> int:
    """``INSERT INTO <model> (<columns>) SELECT <expressions> FROM <qs>``; returns the rows
    written. ``columns`` maps each column to an expression over ``qs``'s rows and must name
    every NOT NULL column without a database default. With ``skip_conflicts`` a row that
    breaks a unique constraint is left out (``ON CONFLICT DO NOTHING`` / ``INSERT OR
    IGNORE``), which makes the statement safe to repeat."""
    names = list(columns)
    # Annotations only (no plain fields), added and selected in the same order.
    select = qs.order_by().annotate(**{f"_ins_{n}": columns[n] for n in names})
    select = select.values_list(*(f"_ins_{n}" for n in names))
    sql, params = select.query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    target = ", ".join(quote(model._meta.get_field(n).column) for n in names)
    if not skip_conflicts:
        statement = f"INSERT INTO {table} ({target}) {sql}"
    elif connection.vendor == "sqlite":
        statement = f"INSERT OR IGNORE INTO {table} ({target}) {sql}"
    else:
        statement = f"INSERT INTO {table} ({target}) {sql} ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return max(cursor.rowcount, 0)
