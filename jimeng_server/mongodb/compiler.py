"""The backend's compilers; inserts turn a duplicate key (code 11000, whatever its words) into an
IntegrityError, and any other write error into a DatabaseError (the backend let the driver's own
error escape: a deadlock that FerretDB v2's PostgreSQL reports between two concurrent inserts into one
unique index was a 500 instead of a write to try again)."""

from django.db import DatabaseError, IntegrityError
from django_mongodb_backend import compiler as backend
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000

SQLCompiler = backend.SQLCompiler
SQLDeleteCompiler = backend.SQLDeleteCompiler
SQLUpdateCompiler = backend.SQLUpdateCompiler
SQLAggregateCompiler = backend.SQLAggregateCompiler


class SQLInsertCompiler(backend.SQLInsertCompiler):
    def execute_sql(self, returning_fields=None):
        try:
            return super().execute_sql(returning_fields)
        except BulkWriteError as exc:
            if any(error.get("code") == DUPLICATE_KEY for error in exc.details.get("writeErrors", ())):
                raise IntegrityError(str(exc)) from exc
            raise DatabaseError(str(exc)) from exc
