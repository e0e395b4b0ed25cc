"""The product's MongoDB backend (jimeng_server.mongodb): a duplicate key is recognised by MongoDB's
error code, whatever words the engine answers it with."""

import pytest
from django.db import DatabaseError, IntegrityError, connection
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from users.models import User

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "mongodb",
        reason="the MongoDB backend only: runs in the FerretDB pass and against JIMENG_TEST_MONGODB_URI",
    ),
]


def _refuse_inserts(monkeypatch, code: int, message: str):
    def refuse(self, documents, *args, **kwargs):
        raise BulkWriteError(
            {"writeErrors": [{"index": 0, "code": code, "errmsg": message}], "nInserted": 0, "writeConcernErrors": []}
        )

    monkeypatch.setattr(Collection, "insert_many", refuse)


def test_a_duplicate_key_in_another_engine_s_words_is_an_integrity_error(monkeypatch):
    # FerretDB v2 on DocumentDB: code 11000, not MongoDB's "E11000 duplicate key error ..." text.
    _refuse_inserts(monkeypatch, 11000, "Duplicate key violation on the requested collection: Index 'email_1'")
    with pytest.raises(IntegrityError):
        User.objects.create(id="twice")


def test_other_write_errors_are_database_errors_not_integrity_errors(monkeypatch):
    # A driver's write error is Django's DatabaseError (an answer of 503, never a 500); only a duplicate
    # key is an IntegrityError.
    _refuse_inserts(monkeypatch, 121, "Document failed validation")
    with pytest.raises(DatabaseError) as raised:
        User.objects.create(id="invalid")
    assert not isinstance(raised.value, IntegrityError)
    assert isinstance(raised.value.__cause__, BulkWriteError)
