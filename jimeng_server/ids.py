"""Identifiers: ULIDs (python-ulid: 48-bit millisecond time + 80 random bits), written in lower case as
this server has always written them. Every id draws all 80 bits afresh: python-ulid's default makes
the ids of one millisecond consecutive (the last one + 1), so one id would reveal its neighbours."""

from ulid import PureRandomPolicy, ULIDGenerator

_generator = ULIDGenerator(policy=PureRandomPolicy())


def new_id() -> str:
    """26 lower-case Crockford base32 characters; ids of different milliseconds sort by creation."""
    return str(_generator.generate()).lower()
