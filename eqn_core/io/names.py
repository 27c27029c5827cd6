"""Safe names: data set names, run ids and threshold profile names, checked in one place for the CLI and the app.

A run id becomes a folder under <workspace>/runs/, and data set and profile names appear in run ids and file
names, so a name is letters, digits, '.', '-' and '_' only (profile names may also hold ':', as in
"<run_id>:tuned-on-dev"): it cannot hold a path separator, cannot be '.' or '..', cannot start with '.', and is
at most MAX_NAME_LENGTH characters. The shipped model "goemotions-eqn" and Model 1 runs "<run_id>.model1" pass.
"""
from __future__ import annotations

import re

MAX_NAME_LENGTH = 120
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._:-]*")


def check_safe_name(value, what: str = "name", *, profile: bool = False) -> str:
    """Return value when it is a safe name, else raise ValueError saying what is wrong and what is allowed.

    what: how the message calls the value ("data set name", "run id", "profile name").
    """
    allowed = "letters, digits, '.', '-', '_'" + (" and ':'" if profile else "")
    rule = (f"use {allowed} (at most {MAX_NAME_LENGTH} characters, not starting with '.'), "
            "e.g. 'my-emotions_v2'")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"The {what} is empty; {rule}.")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"The {what} {value[:40]!r}... is {len(value)} characters long; {rule}.")
    if ".." in value:
        raise ValueError(f"The {what} {value!r} contains '..'; {rule}.")
    pattern = _PROFILE_NAME if profile else _NAME
    if not pattern.fullmatch(value):
        bad = sorted({char for char in value if not pattern.fullmatch("a" + char)})
        shown = ", ".join(repr(char) for char in bad) if bad else "'.' at the start"
        raise ValueError(f"The {what} {value!r} may not contain {shown}; {rule}.")
    return value


def is_safe_name(value, *, profile: bool = False) -> bool:
    try:
        check_safe_name(value, profile=profile)
    except ValueError:
        return False
    return True


def safe_name_from(text: str, *, fallback: str = "name") -> str:
    """A safe name made from any text (unsafe characters become '-'), e.g. for a suggested default."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.")
    name = re.sub(r"\.{2,}", ".", name)[:MAX_NAME_LENGTH].strip("-.")
    return name or fallback
