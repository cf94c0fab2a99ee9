"""Text from outside, made safe to store and publish: valid UTF-8, bounded in bytes, printable where shown.

JSON's "\\ud83d" decodes to a lone surrogate, which UTF-8 cannot carry: boto3, S3 and SNS would refuse
it on every retry. Sizes are counted in UTF-8 bytes, as DynamoDB and SNS count them.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import Any


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included, without recursion."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def encodable(text: str) -> bool:
    """True unless the text holds a lone surrogate (JSON's "\\ud83d" decodes to one; UTF-8 cannot carry it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (valid pairs are joined); unchanged otherwise."""
    if encodable(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def clip_text(text: str, max_bytes: int) -> str:
    """Clean `text` and cut it to at most `max_bytes` of UTF-8, never inside a character."""
    text = clean_text(text)
    if len(text) * 4 <= max_bytes:
        return text
    return text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")


def scrub(value: Any) -> Any:
    """A JSON value with every string (keys too) cleaned of lone surrogates; the same object when clean."""
    if all(encodable(text) for text in strings(value)):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def printable(text: str) -> str:
    """One line of visible text: control, format and separator characters become spaces, runs collapse."""
    shown = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in clean_text(text))
    return " ".join(shown.split())


def json_bytes(value: Any) -> int:
    """The size of `value` as the adapters send it (compact JSON, UTF-8, non-ASCII unescaped)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
