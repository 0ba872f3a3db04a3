"""Characters refused in any text a caller sends, at every door (API bodies, console and
self-service forms): one rule, so a value the API refuses is refused by the pages too.

Refused: NUL (PostgreSQL cannot store it: a 500 there, stored as-is by SQLite) and the other C0/C1
controls except tab and line breaks; bidi embedding/override/isolate controls, which make text
display other than it reads ("Trojan Source", CVE-2021-42574); invisible zero-width spaces and the
BOM; lone surrogates (a JSON "\\ud800" escape), which no database encoding can store. ZWJ/ZWNJ and
LRM/RLM stay: scripts need them.
"""

from __future__ import annotations

import re

UNSAFE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\u202a-\u202e\u2060\u2066-\u2069"
                         "\ufeff\ud800-\udfff]")
UNSAFE_TEXT_MESSAGE = ("text must not contain control characters, bidirectional overrides, zero-width spaces or "
                       "unpaired surrogates")


def unsafe_text(value: object) -> str | None:
    """The first string in ``value`` (nested dicts and lists, keys included) holding a character of
    :data:`UNSAFE_TEXT`, or None. Iterative: a deeply nested body cannot exhaust the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if UNSAFE_TEXT.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


__all__ = ["UNSAFE_TEXT", "UNSAFE_TEXT_MESSAGE", "unsafe_text"]
