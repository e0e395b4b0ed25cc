"""Every shortcut past the ORM in this app, in one place, behind FASTPATH (`off`: the plain ORM path,
which gives the same results — tests/test_fastpath.py). Each is measured by `make bench`'s shortcut
figures; one that no longer earns its place is removed.

- `task_read`: a task read by key. Polls read one task thousands of times a second, and building its
  SQL through the ORM each time was ~0.3 ms of a ~2 ms request: each shape of the read is compiled once
  per process, then only run, with the ORM's own SQL, columns and value converters.
- `task_insert`: a new task's row. The ORM building the INSERT again for every create was a tenth of a
  create's time: the statement is built once per process, and each value prepared as the ORM would.
- `tasks_unchanged`: which of the tasks a web process's waiters wait on have not changed. Its sweep asks
  every 30 s about all of them, 500 ids a query (imagetasks/events.py): the ORM preparing each id of the
  `IN` was ~5 us, ~50 ms of the interpreter per sweep at 10,000 waiters, every request of the process
  waiting its turn meanwhile (`make bench` P6's rounds that met a sweep).
- `pending_ahead_count`: how many tasks start before a pending one that has not parked yet (the
  `queue_position` of every poll and every long-poll's answer). The ORM building its two counts was a
  fifth of a long-poll renewal's interpreter time (`py-spy --gil`, 400 long-polls renewing): one
  statement with both, built once per process.
- All four run their statement on SQLite's own cursor, inside Django's error translation: Django's SQLite
  cursor rewrites the `%s` marks as `?` with a regular expression on every execute (for the INSERT's 36
  columns, a seventh of `task_insert`'s time under `hey`'s creates); here once per statement."""

from __future__ import annotations

import functools
import sqlite3
from datetime import datetime

from django.conf import settings
from django.db import connection, connections
from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX
from django.db.models import JSONField
from django.utils import timezone

from .models import ImageTask, Status

_TASK_ID, _OWNER = "\x00task_id", "\x00owner"
_compiled_reads: dict[tuple, tuple] = {}
_PLAIN = frozenset({str, int, bool})


def task_read(task_id: str, owner: str | None, fields: tuple[str, ...] | None) -> ImageTask | None:
    """One task by key (only `fields`, if given; only `owner`'s, if given), or None."""
    db = connections[ImageTask.objects.db]
    if not settings.FASTPATH or db.vendor == "mongodb":
        tasks = ImageTask.objects.filter(user_id=owner) if owner is not None else ImageTask.objects.all()
        return (tasks.only(*fields) if fields is not None else tasks).filter(pk=task_id).first()
    sql, params, names, converters = _compiled_read(db, owner is not None, fields)
    arguments = {_TASK_ID: task_id, _OWNER: owner}
    with db.cursor() as cursor:
        _execute(db, cursor, sql, [arguments.get(param, param) for param in params])
        row = cursor.fetchone()
    if row is None:
        return None
    values = list(row)
    for index, (functions, expression) in converters.items():
        for function in functions:
            values[index] = function(values[index], expression, db)
    return ImageTask.from_db(db.alias, names, values)


def _compiled_read(db, owned: bool, fields: tuple[str, ...] | None) -> tuple:
    shape = (db.alias, owned, fields)
    compiled = _compiled_reads.get(shape)
    if compiled is None:
        tasks = ImageTask.objects.using(db.alias).filter(pk=_TASK_ID)
        if owned:
            tasks = tasks.filter(user_id=_OWNER)
        if fields is not None:
            tasks = tasks.only(*fields)
        compiler = tasks.query.get_compiler(using=db.alias)
        sql, params = compiler.as_sql()
        columns = [column for column, _, _ in compiler.select]
        compiled = _compiled_reads[shape] = (
            sql,
            params,
            [column.target.attname for column in columns],
            compiler.get_converters(columns),
        )
    return compiled


def task_insert(row: dict) -> ImageTask:
    """The task as a new row (a field not in `row` takes its default)."""
    if not settings.FASTPATH or connection.vendor == "mongodb":
        task = ImageTask(**row)
        task.save(force_insert=True)
        return task
    now = timezone.now()
    values, params = [], []
    for field, automatic, json_field in _insert_fields():
        if field.attname in row:
            value = row[field.attname]
        else:
            value = now if automatic else field.get_default()
        values.append(value)
        plain = value is None or (type(value) in _PLAIN and not json_field)
        params.append(value if plain else field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        _execute(connection, cursor, _insert_sql(connection.alias), params)
    return ImageTask.from_db(connection.alias, None, values)


def tasks_unchanged(task_ids: list[str], since: datetime) -> set[str]:
    """Those of `task_ids` whose task exists and has not changed since `since` (`updated_at` before it)."""
    db = connections[ImageTask.objects.db]
    if not settings.FASTPATH or db.vendor != "sqlite":
        return set(ImageTask.objects.filter(pk__in=task_ids, updated_at__lt=since).values_list("id", flat=True))
    if not task_ids:
        return set()
    # The id list padded with its first to a power of two: a handful of statement shapes per process
    # (each cached, with its `?` form), not one per length a sweep's last batch may have.
    size = 1 << (len(task_ids) - 1).bit_length()
    ids = [*task_ids, *[task_ids[0]] * (size - len(task_ids))]
    with db.cursor() as cursor:
        _execute(db, cursor, _unchanged_sql(db.alias, size), [*ids, db.ops.adapt_datetimefield_value(since)])
        return {task_id for (task_id,) in cursor.fetchall()}


def pending_ahead_count(provider: str, created_at: datetime, task_id: str) -> int:
    """The pending tasks of `provider` made before `created_at`, and its parked ones (waiting for a slot)
    made since, but `task_id`."""
    db = connections[ImageTask.objects.db]
    if not settings.FASTPATH or db.vendor != "sqlite":
        tasks = ImageTask.objects.filter(provider=provider)
        before = tasks.filter(status=Status.PENDING, created_at__lt=created_at)
        parked_after = tasks.filter(waiting_since__isnull=False, created_at__gte=created_at).exclude(pk=task_id)
        return before.count() + parked_after.count()
    at = db.ops.adapt_datetimefield_value(created_at)
    with db.cursor() as cursor:
        _execute(db, cursor, _ahead_sql(db.alias), [provider, Status.PENDING.value, at, provider, at, task_id])
        return cursor.fetchone()[0]


@functools.cache
def _ahead_sql(alias: str) -> str:
    """The two counts of `pending_ahead_count`'s plain path as the ORM writes them, in one statement."""
    quote, meta = connections[alias].ops.quote_name, ImageTask._meta
    table, key = quote(meta.db_table), quote(meta.pk.column)
    provider, status, created, waiting = (
        quote(meta.get_field(name).column) for name in ("provider", "status", "created_at", "waiting_since")
    )
    before = f"SELECT COUNT(*) FROM {table} WHERE ({provider} = %s AND {status} = %s AND {created} < %s)"
    parked_after = (
        f"SELECT COUNT(*) FROM {table} WHERE ({provider} = %s AND {waiting} IS NOT NULL AND {created} >= %s"
        f" AND NOT ({key} = %s))"
    )
    return f"SELECT ({before}) + ({parked_after})"


@functools.cache
def _unchanged_sql(alias: str, count: int) -> str:
    quote = connections[alias].ops.quote_name
    key, changed = quote(ImageTask._meta.pk.column), quote(ImageTask._meta.get_field("updated_at").column)
    marks = ", ".join(["%s"] * count)
    return f"SELECT {key} FROM {quote(ImageTask._meta.db_table)} WHERE {key} IN ({marks}) AND {changed} < %s"


def _execute(db, cursor, sql: str, params: list) -> None:
    """`cursor.execute(sql, params)`; on SQLite with nothing watching the statements (DEBUG's query log,
    execute wrappers), on its own cursor with the marks rewritten once per statement."""
    if db.vendor != "sqlite" or db.queries_logged or db.execute_wrappers:
        cursor.execute(sql, params)
        return
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        sqlite3.Cursor.execute(cursor.cursor, _qmarks(sql), params)


@functools.cache
def _qmarks(sql: str) -> str:
    """The statement as Django's SQLite cursor rewrites it (`SQLiteCursorWrapper.convert_query`)."""
    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")


@functools.cache
def _insert_fields() -> tuple:
    return tuple(
        (
            field,
            bool(getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)),
            isinstance(field, JSONField),
        )
        for field in ImageTask._meta.concrete_fields
    )


@functools.cache
def _insert_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    columns = [quote(field.column) for field, _, _ in _insert_fields()]
    marks = ", ".join(["%s"] * len(columns))
    return f"INSERT INTO {quote(ImageTask._meta.db_table)} ({', '.join(columns)}) VALUES ({marks})"
