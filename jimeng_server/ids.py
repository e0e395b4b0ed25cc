"""Identifiers: unguessable and time-sortable ULIDs (python-ulid: 48-bit millisecond time + 80 random
bits), written in lower case as this server has always written them."""

from ulid import ULID


def new_id() -> str:
    """26 lower-case Crockford base32 characters; lexicographic order is creation order."""
    return str(ULID()).lower()
