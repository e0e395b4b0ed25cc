"""Test harness only: lets the suite run against FerretDB v1, which lacks two MongoDB features that
django-mongodb-backend relies on. Nothing in the product knows about it; real users run MongoDB 7.

1. Updates written as an aggregation pipeline (FerretDB issue 2742). The backend writes every
   `QuerySet.update()` and every `save()` of an existing row as `[{"$set": {field: <expr>}}]`. The
   shapes it emits for plain assignments (`{"$literal": v}`) and `F("x") + n` / `F("x") - n` on the
   same field are rewritten to `$set` / `$inc`; any other shape raises, loudly.
2. `partialFilterExpression` on indexes. The backend adds `{field: {"$type": ...}}` to every unique
   index so that nulls do not collide. FerretDB rejects the option; such indexes are created
   without it and without uniqueness (tests that need the database itself to reject duplicates
   are skipped on FerretDB, naming this gap).

3. Aggregation: `$facet` (used for whole-collection aggregates such as count()) and field paths in
   `$addFields` (FerretDB returns `{"f": "$f"}` as the string "$f"). The backend's no-op
   `$addFields` before a sort is dropped; its count shape `$facet{group: [$group]}` + `$getField` is
   run as a plain `$group` (with the empty-input answer `$facet` would give). Other shapes raise.
4. `migrate` (django.contrib.auth's create_permissions) orders by a joined field: see below.
5. Atomic single-document updates. FerretDB v1 reads the documents an update's filter matches, then
   writes them: two processes updating one document at once both match it, and one write is lost
   (two workers both "claim" a pending task). With JIMENG_TEST_FERRETDB_LOCK naming a file (set by
   tests/stack.py's FerretDBServer), every update holds an exclusive lock on it, which gives back
   MongoDB's guarantee to every process of this machine (`make scale`'s two hosts included).

Installed by tests/bootstrap.py (the pytest process) and by tests/ferretdb_site/sitecustomize.py
(every web and worker process a test starts) when JIMENG_TEST_FERRETDB=1."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os

from pymongo.collection import Collection

TRANSLATED_SHAPES = (
    '[{"$set": {"f": {"$literal": v}}}]  ->  {"$set": {"f": v}}',
    '[{"$set": {"f": true | 3 | null | "text"}}]  ->  {"$set": {"f": ...}}',
    '[{"$set": {"f": {"$add": ["$f", n | {"$literal": n}]}}}]  ->  {"$inc": {"f": n}}',
    '[{"$set": {"f": {"$subtract": ["$f", n]}}}]  ->  {"$inc": {"f": -n}}',
)


class UntranslatablePipelineUpdate(NotImplementedError):
    pass


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def translate_pipeline_update(update):
    """The operator update equivalent to a pipeline update of the shapes above."""
    if not isinstance(update, list):
        return update
    if len(update) != 1 or set(update[0]) != {"$set"}:
        raise UntranslatablePipelineUpdate(f"pipeline update shape not translated for FerretDB: {update!r}")
    sets, incs = {}, {}
    for field, expr in update[0]["$set"].items():
        if isinstance(expr, dict) and set(expr) == {"$literal"}:
            sets[field] = expr["$literal"]
            continue
        if isinstance(expr, bool | int | float) or expr is None or (isinstance(expr, str) and not expr.startswith("$")):
            # a constant is its own value (the schema editor fills new fields' defaults this way)
            sets[field] = expr
            continue
        if isinstance(expr, dict) and len(expr) == 1:
            ((operator, args),) = expr.items()
            if operator in {"$add", "$subtract"} and isinstance(args, list) and len(args) == 2:
                ref, amount = args
                if isinstance(amount, dict) and set(amount) == {"$literal"}:
                    amount = amount["$literal"]
                if ref == f"${field}" and _is_number(amount):
                    incs[field] = amount if operator == "$add" else -amount
                    continue
        raise UntranslatablePipelineUpdate(f"pipeline update of {field!r} not translated for FerretDB: {expr!r}")
    operators = {}
    if sets:
        operators["$set"] = sets
    if incs:
        operators["$inc"] = incs
    return operators


def _is_group_field_getter(expr, key) -> bool:
    return expr == {"$getField": {"input": {"$arrayElemAt": ["$group", 0]}, "field": key}}


# Count(*) as the backend writes it: a $sum over "1 unless the (constant True) is null".
_COUNT_ALL = {
    "$sum": {"$cond": {"if": {"$in": [{"$type": {"$literal": True}}, ["missing", "null"]]}, "then": None, "else": 1}}
}


def _is_literal_projection(body) -> bool:
    return all(isinstance(value, dict) and set(value) == {"$literal"} for value in body.values())


def translate_aggregate(pipeline: list) -> tuple[list, dict | None]:
    """The pipeline FerretDB can run, and the document to answer with when a whole-collection group
    finds no input (MongoDB's `$facet` answers one document then; `$group` answers none)."""
    out, empty_answer = [], None
    stages = list(pipeline)
    index = 0
    while index < len(stages):
        stage = stages[index]
        ((name, body),) = stage.items()
        if name == "$addFields" and all(value == f"${key}" for key, value in body.items()):
            index += 1  # {"f": "$f"} is a no-op, which FerretDB reads as the string "$f"
            continue
        if name == "$facet":
            following = stages[index + 1] if index + 1 < len(stages) else None
            group = body.get("group") if set(body) == {"group"} else None
            if not (
                isinstance(group, list)
                and len(group) == 1
                and set(group[0]) == {"$group"}
                and group[0]["$group"].get("_id") is None
                and following
                and set(following) == {"$addFields"}
                and all(_is_group_field_getter(expr, key) for key, expr in following["$addFields"].items())
            ):
                raise UntranslatablePipelineUpdate(f"$facet shape not translated for FerretDB: {pipeline!r}")
            accumulators = {
                key: ({"$sum": 1} if value == _COUNT_ALL else value) for key, value in group[0]["$group"].items()
            }
            if any("$cond" in str(value) for value in accumulators.values()):
                raise UntranslatablePipelineUpdate(f"$group accumulator not translated for FerretDB: {pipeline!r}")
            out.append({"$group": accumulators})
            empty_answer = {"_id": None}
            for key, accumulator in accumulators.items():
                if key != "_id":
                    ((operator, _),) = accumulator.items()
                    empty_answer[key] = 0 if operator in {"$sum", "$count"} else None
            index += 2
            after = stages[index] if index < len(stages) else None
            if (
                after
                and set(after) == {"$project"}
                and all(value == {"$ifNull": [f"${key}", {"$literal": 0}]} for key, value in after["$project"].items())
            ):
                out.append({"$project": {key: 1 for key in after["$project"]}})  # counts are never null here
                index += 1
            continue
        if name == "$project" and _is_literal_projection(body):
            out.append({"$project": {"_id": 1}})  # exists(): only whether a row comes back matters
            index += 1
            continue
        out.append(stage)
        index += 1
    return out, empty_answer


class _ListCursor:
    """Enough of a pymongo cursor for the backend: iteration, next(), close()."""

    def __init__(self, documents):
        self._documents = iter(documents)

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._documents)

    next = __next__

    def close(self):
        pass


def _strip_partial_filters(indexes):
    for index in indexes:
        document = getattr(index, "document", None)
        if document and "partialFilterExpression" in document:
            document.pop("partialFilterExpression")
            document.pop("unique", None)
    return indexes


@contextlib.contextmanager
def _update_lock():
    path = os.environ.get("JIMENG_TEST_FERRETDB_LOCK")
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install() -> None:
    if getattr(Collection, "_ferretdb_compat", False):
        return
    for name in ("update_many", "update_one"):
        original = getattr(Collection, name)

        @functools.wraps(original)
        def wrapper(self, filter, update, *args, _original=original, **kwargs):
            with _update_lock():
                return _original(self, filter, translate_pipeline_update(update), *args, **kwargs)

        setattr(Collection, name, wrapper)
    original_create_indexes = Collection.create_indexes

    @functools.wraps(original_create_indexes)
    def create_indexes(self, indexes, *args, **kwargs):
        return original_create_indexes(self, _strip_partial_filters(list(indexes)), *args, **kwargs)

    Collection.create_indexes = create_indexes
    original_aggregate = Collection.aggregate

    @functools.wraps(original_aggregate)
    def aggregate(self, pipeline, *args, **kwargs):
        translated, empty_answer = translate_aggregate(pipeline)
        if empty_answer is None:
            return original_aggregate(self, translated, *args, **kwargs)
        documents = list(original_aggregate(self, translated, *args, **kwargs))
        return _ListCursor(documents or [empty_answer])

    Collection.aggregate = aggregate
    Collection._ferretdb_compat = True
    _create_permissions_without_join_ordering()


def _create_permissions_without_join_ordering() -> None:
    """3. `migrate` runs django.contrib.auth's create_permissions, whose query is ordered by
    Permission's default ordering — across content_type, so a `$lookup`, which FerretDB v1 lacks.
    During that one call the ordering is dropped; the permissions created are the same."""
    import django.contrib.auth.management as auth_management

    original = auth_management.create_permissions

    @functools.wraps(original)
    def create_permissions(app_config, verbosity=2, interactive=True, using="default", apps=None, **kwargs):
        from django.apps import apps as global_apps

        try:  # the migration state's Permission, which is the one queried
            Permission = (apps or global_apps).get_model("auth", "Permission")
        except LookupError:
            return original(app_config, verbosity, interactive, using, apps=apps or global_apps, **kwargs)
        ordering = Permission._meta.ordering
        Permission._meta.ordering = []
        try:
            return original(app_config, verbosity, interactive, using, apps=apps or global_apps, **kwargs)
        finally:
            Permission._meta.ordering = ordering

    auth_management.create_permissions = create_permissions
