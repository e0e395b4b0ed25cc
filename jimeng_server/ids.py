"""Identifiers: unguessable and time-sortable (a ULID: 48-bit millisecond time + 80 random bits)."""

import secrets
import time

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


def new_id() -> str:
    """26 lower-case Crockford base32 characters; lexicographic order is creation order."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))
