"""The one text check: every string a client sends (JSON bodies, form fields, file names, query
strings, the path) is refused with a 400 when it holds a lone surrogate or a NUL, before anything is
stored. Such a string cannot be written as UTF-8: stored once, it made the task, its user's whole list
and its event stream unreadable (a 500). What was stored before this check, or comes from an upstream,
is written out safely instead (`json_text`, `text_clean`)."""

from __future__ import annotations

import json
import re

_BAD = re.compile(r"[\x00\ud800-\udfff]")
MAX_DEPTH = 64  # JSON nested deeper is refused by the parser before this walk (jimeng_server/api.py)


class TextRefused(ValueError):
    """A string that may not be stored; the message names where it was and why."""


def text_problem(value: str) -> str | None:
    found = _BAD.search(value)
    if found is None:
        return None
    return "a NUL character" if found.group() == "\x00" else "a lone UTF-16 surrogate (not valid Unicode)"


def data_check(data, where: str = "body") -> None:
    """Every string (keys too) of parsed request data; TextRefused naming the first bad one."""
    stack = [(data, where)]
    while stack:
        value, path = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise TextRefused(f"{path} holds {problem}; send valid UTF-8 text without NUL characters.")
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and text_problem(key):
                    raise TextRefused(f"a field name in {path} holds {text_problem(key)}.")
                stack.append((item, name))
        elif isinstance(value, list | tuple):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(value))


def text_clean(value: str) -> str:
    """A string that can be written as UTF-8: lone surrogates and NULs replaced by U+FFFD."""
    return _BAD.sub("\ufffd", value) if _BAD.search(value) else value


def json_text(data) -> str:
    """JSON of `data` as readable UTF-8 text; a stored string that cannot be (a lone surrogate written
    before the text check existed) is escaped instead of breaking the whole answer."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text
