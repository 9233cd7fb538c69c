"""Fast bulk loading for the seed commands: ids reserved up front and rows written with
PostgreSQL's COPY (batched INSERTs on SQLite). Core: no app imports."""

from collections.abc import Sequence

from django.db import connection


def ids_reserve(table: str, n: int) -> list[int]:
    """``n`` primary keys for ``table``, taken from its sequence, so rows referring to each
    other can be written in one pass."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, n],
            )
            return [row[0] for row in cursor.fetchall()]
        quoted = connection.ops.quote_name(table)
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quoted}")  # noqa: S608
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        first = max(top, row[0] if row else 0) + 1
        return list(range(first, first + n))


def rows_write(table: str, columns: Sequence[str], rows: list[tuple]) -> None:
    """Write ``rows`` (tuples in ``columns`` order) into ``table`` inside the current
    transaction: COPY on PostgreSQL, INSERTs of 2,000 rows at a time elsewhere."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.vendor == "postgresql":
        raw = connection.connection  # the psycopg 3 connection, inside our transaction
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 2_000):
            cursor.executemany(sql, rows[start : start + 2_000])


def tables_analyze(tables: Sequence[str]) -> None:
    """After a bulk load on PostgreSQL: ``VACUUM (ANALYZE)`` (fresh statistics, and the
    visibility map that lets index-only scans skip the table, which autovacuum would build
    only later), or just ``ANALYZE`` inside a transaction, where VACUUM cannot run."""
    if connection.vendor != "postgresql" or not tables:
        return
    verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
    with connection.cursor() as cursor:
        cursor.execute(f"{verb} {', '.join(tables)}")
