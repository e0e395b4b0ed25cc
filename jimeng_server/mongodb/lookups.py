"""`field__bson_type="string"`: MongoDB's `{field: {$type: "string"}}`, for queries that must repeat a
partial index's condition to be planned on it (`string_indexed`)."""

from django.db import NotSupportedError, connection
from django.db.models import CharField, ForeignKey, Lookup
from django_mongodb_backend.query_utils import process_lhs


class BsonType(Lookup):
    lookup_name = "bson_type"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        raise NotSupportedError("bson_type is a MongoDB lookup")

    def as_mql_path(self, compiler, connection):
        return {process_lhs(self, compiler, connection): {"$type": self.rhs}}

    def as_mql_expr(self, compiler, connection):
        return {"$eq": [{"$type": process_lhs(self, compiler, connection, as_expr=True)}, self.rhs]}


def register() -> None:
    CharField.register_lookup(BsonType)
    ForeignKey.register_lookup(BsonType)


def string_indexed(*fields: str) -> dict:
    """Filters repeating the condition django-mongodb-backend gives every unique index on a nullable
    field (`{field: {$type: "string"}}`, so that nulls do not collide): an engine that plans with
    PostgreSQL (FerretDB v2 on DocumentDB) uses such a partial index only when the query states it
    too, while an equality on a string implies it for MongoDB. Empty on SQL databases."""
    if connection.vendor != "mongodb":
        return {}
    return {f"{field}__bson_type": "string" for field in fields}
