"""Numbers read from what a client sent (headers, query strings): bounded before they are converted.
Python refuses to convert more than 4,300 digits (a ValueError that became a 500), and a number no
file or wait could reach needs no exact value: past `ceiling` it saturates."""

from __future__ import annotations

import re

CEILING = 10**18  # larger than any byte offset, count or number of seconds this server deals in
_DIGITS = re.compile(r"\d+")


def digits_int(text: str, *, ceiling: int = CEILING) -> int:
    """A run of ASCII digits as a number, at most `ceiling` (more digits than it has: `ceiling`)."""
    if not _DIGITS.fullmatch(text):
        raise ValueError(f"not a number: {text[:20]!r}")
    text = text.lstrip("0") or "0"
    return ceiling if len(text) > len(str(ceiling)) else min(int(text), ceiling)


def query_int(text: str | None, *, default: int, low: int, high: int, name: str) -> int:
    """A whole number from a query parameter, within [low, high]; ValueError saying so otherwise."""
    if text is None or text == "":
        return default
    try:
        value = digits_int(text.strip())
    except ValueError:
        raise ValueError(f"{name} must be a whole number from {low} to {high}.") from None
    if not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}.")
    return value
