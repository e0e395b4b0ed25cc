"""Values a process trusts for a moment after reading them (a read at most once a second or so per
key, instead of one per request or per look). Every memo is listed, so tests start each one empty."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any

_memos: weakref.WeakSet[Memo] = weakref.WeakSet()


class Memo:
    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self._values: dict[Hashable, tuple[float, Any]] = {}
        _memos.add(self)

    def get(self, key: Hashable, read: Callable[[], Any]) -> Any:
        """The value kept for `key`, or `read()` (kept) once it is older than `seconds`. An exception
        from `read` keeps nothing and reaches the caller."""
        now = time.monotonic()
        kept = self._values.get(key)
        if kept is not None and now - kept[0] < self.seconds:
            return kept[1]
        value = read()
        self._values[key] = (now, value)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """This process just wrote `value`: trust it as if read."""
        self._values[key] = (time.monotonic(), value)

    def forget(self, key: Hashable | None = None) -> None:
        if key is None:
            self._values.clear()
        else:
            self._values.pop(key, None)


def memos_forget() -> None:
    """Every memo empty (between tests: what one test wrote must not decide the next one's path)."""
    for memo in list(_memos):
        memo.forget()
