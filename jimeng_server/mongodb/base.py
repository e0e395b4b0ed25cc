"""The MongoDB database backend: django-mongodb-backend, with one difference. A duplicate key on an
insert is recognised by MongoDB's error code (11000), not by the words of MongoDB's own message
("E11000 duplicate key error ..."): MongoDB-compatible engines (FerretDB v2 on DocumentDB, for one)
answer the same code in other words ("Duplicate key violation ..."), and the backend then let the
error escape as a server error instead of an IntegrityError (an idempotency-key conflict became a
500 instead of a 409). Everything else is the backend's own."""

from django_mongodb_backend.base import DatabaseWrapper as BackendDatabaseWrapper
from django_mongodb_backend.operations import DatabaseOperations as BackendDatabaseOperations


class DatabaseOperations(BackendDatabaseOperations):
    compiler_module = "jimeng_server.mongodb.compiler"


class DatabaseWrapper(BackendDatabaseWrapper):
    ops_class = DatabaseOperations
