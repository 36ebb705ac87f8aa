"""What every scope of settings shares: the prefix, the documented base, the URL check."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = ["ENV_PREFIX", "Scope", "check_scheme", "check_topic_name", "readable"]

ENV_PREFIX = "STREAMREC_"


class Scope(BaseModel):
    """One scope's fields; each field's attribute docstring is its configuration reference.
    A scope is not read alone: ``Settings`` combines them all under ENV_PREFIX."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)


def check_scheme(url: str, schemes: tuple[str, ...]) -> str:
    """``url`` if its scheme is one of ``schemes``, else ValueError saying which are."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in schemes:
        raise ValueError(f"unknown scheme; allowed: {' or '.join(s + '://' for s in schemes)}")
    return url


_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def check_topic_name(name: str) -> str:
    """``name`` if Kafka accepts it as a topic name, else ValueError saying what it accepts.
    (Checked at start: Kafka refuses a bad name only when the topic is first created or
    read, deep inside a running worker.)"""
    if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
        raise ValueError("not a Kafka topic name; allowed: 1 to 249 of a-z, A-Z, 0-9, '.', "
                         "'_' and '-' (not '.' or '..' alone)")  # fmt: skip
    return name


def readable(path: Path) -> bool:
    """Whether this process can open ``path`` for reading (a mounted secret, a CA bundle)."""
    try:
        with path.open("rb"):
            return True
    except OSError:
        return False
