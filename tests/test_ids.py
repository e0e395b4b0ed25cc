"""Ids are ULIDs in lower case: 26 Crockford base32 characters, sortable by creation time."""

import re
import time

from ulid import ULID

from jimeng_server.ids import new_id


def test_ids_are_lower_case_ulids_in_creation_order():
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{26}", first)
    assert first < second
    assert abs(ULID.from_str(first.upper()).timestamp - time.time()) < 5
