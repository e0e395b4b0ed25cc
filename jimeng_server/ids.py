"""Identifiers: ULIDs (python-ulid: 48-bit millisecond time + 80 random bits), written in lower case as
this server has always written them. Every id draws all 80 bits afresh: python-ulid's default makes
the ids of one millisecond consecutive (the last one + 1), so one id would reveal its neighbours.

The 16 bytes are put together here and python-ulid only writes them out: its generator draws the
random bits under a lock, and the draw (a system call) gives up the GIL, so under load a thread held
that lock until the GIL came back to it while every other thread's new id waited. A web process taking
creates from `hey` spent 12 % of its threads' samples waiting there (py-spy --idle); none now."""

import os
import time

from ulid import ULID


def new_id() -> str:
    """26 lower-case Crockford base32 characters; ids of different milliseconds sort by creation."""
    return str(ULID.from_bytes((time.time_ns() // 1_000_000).to_bytes(6, "big") + os.urandom(10))).lower()
