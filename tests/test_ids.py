"""Ids are ULIDs in lower case: 26 Crockford base32 characters, sortable by creation time across
milliseconds, and with 80 fresh random bits each — ids made together never reveal one another."""

import itertools
import re
import time
from concurrent.futures import ThreadPoolExecutor

from ulid import ULID

from jimeng_server.ids import new_id

LOWER_CASE_ULID = r"[0-9a-hjkmnp-tv-z]{26}"


def test_ids_are_lower_case_ulids_in_creation_order():
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert re.fullmatch(LOWER_CASE_ULID, first)
    assert first < second
    assert abs(ULID.from_str(first.upper()).timestamp - time.time()) < 5


def test_ids_made_in_the_same_millisecond_do_not_reveal_their_neighbours():
    ids = [ULID.from_str(new_id().upper()) for _ in range(2000)]
    by_millisecond: dict[int, list[int]] = {}
    for ulid in ids:
        by_millisecond.setdefault(ulid.milliseconds, []).append(int(ulid) & (2**80 - 1))
    pairs = [(a, b) for group in by_millisecond.values() for a, b in itertools.pairwise(group)]
    assert len(pairs) > 100  # many were made within one millisecond
    # With python-ulid's default, 1,988 of 1,999 neighbours differ by exactly 1; random bits never do.
    assert sum(1 for a, b in pairs if abs(b - a) < 2**40) == 0
    assert len({int(ulid) for ulid in ids}) == len(ids)


def test_ids_made_on_many_threads_at_once_are_all_distinct_and_well_formed():
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda _: new_id(), range(8000)))
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(LOWER_CASE_ULID, made) for made in ids)
