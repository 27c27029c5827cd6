"""Accounts: a users file with bcrypt-hashed passwords and one role per user (admin or reviewer).

The file is JSON, ``{"users": {"ana": {"role": "reviewer", "password_hash": "$2b$...", "created_at": "..."}}}``,
by default ``<workspace>/users.json`` (``$EQN_USERS_FILE`` overrides). It is managed with ``eqn users``. With no
file, or a file without users, the app runs in single-user local mode: one local user with the admin role.
"""
from __future__ import annotations

import functools
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import bcrypt

ADMIN, REVIEWER = "admin", "reviewer"
ROLES = (ADMIN, REVIEWER)
USERS_FILENAME = "users.json"
LOCAL_USER = "local"
MIN_PASSWORD_LENGTH = 8
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

__all__ = ["ADMIN", "REVIEWER", "ROLES", "User", "users_file", "load_users", "add_user", "remove_user",
           "set_password", "authenticate", "local_user"]


@dataclass(frozen=True)
class User:
    name: str
    role: str
    local: bool = False  # the single-user local mode (no users file)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def local_user() -> User:
    return User(LOCAL_USER, ADMIN, local=True)


def users_file(workspace_root: str | Path) -> Path:
    """Where the users live: $EQN_USERS_FILE, else <workspace>/users.json."""
    override = os.environ.get("EQN_USERS_FILE")
    return Path(override).expanduser() if override else Path(workspace_root) / USERS_FILENAME


def load_users(path: str | Path) -> dict[str, dict]:
    """name -> {"role", "password_hash", "created_at"}; {} when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        users = json.loads(path.read_text(encoding="utf-8")).get("users", {})
    except (json.JSONDecodeError, AttributeError) as error:
        raise ValueError(f"The users file {path} is not valid JSON of the form {{\"users\": {{...}}}}: {error}") from error
    for name, entry in users.items():
        if entry.get("role") not in ROLES or not str(entry.get("password_hash", "")).startswith("$2"):
            raise ValueError(f"The users file {path}: user {name!r} needs a role in {ROLES} and a bcrypt "
                             "password hash; fix it with `eqn users add NAME --role ...`.")
    return users


def _save(path: Path, users: dict[str, dict]) -> None:
    """Write atomically (temporary file + rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"users": users}, indent=2, sort_keys=True), encoding="utf-8")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def _check_password(password: str) -> bytes:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    encoded = password.encode("utf-8")
    if len(encoded) > 72:  # bcrypt reads at most 72 bytes
        raise ValueError("A password may have at most 72 bytes.")
    return encoded


def add_user(path: str | Path, name: str, password: str, *, role: str = REVIEWER, replace: bool = False) -> User:
    """Add (or with replace, update) a user; the password is stored only as a bcrypt hash."""
    path = Path(path)
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"User name {name!r}: use 1-64 letters, digits, '.', '_', '@' or '-', starting with a "
                         "letter or digit.")
    if name == LOCAL_USER:
        raise ValueError(f"{LOCAL_USER!r} is the name of the single-user local mode; choose another name.")
    if role not in ROLES:
        raise ValueError(f"Unknown role {role!r}; use one of {ROLES}.")
    users = load_users(path)
    if name in users and not replace:
        raise ValueError(f"User {name!r} exists in {path}; pass --replace to change their role or password.")
    users[name] = {"role": role, "password_hash": bcrypt.hashpw(_check_password(password), bcrypt.gensalt()).decode(),
                   "created_at": users.get(name, {}).get("created_at") or datetime.now(timezone.utc).isoformat()}
    _save(path, users)
    return User(name, role)


def set_password(path: str | Path, name: str, password: str) -> None:
    users = load_users(path)
    if name not in users:
        raise KeyError(f"No user {name!r} in {path}.")
    add_user(path, name, password, role=users[name]["role"], replace=True)


def remove_user(path: str | Path, name: str) -> None:
    users = load_users(path)
    if name not in users:
        raise KeyError(f"No user {name!r} in {path}; users: {sorted(users)}")
    del users[name]
    _save(Path(path), users)


def authenticate(path: str | Path, name: str, password: str) -> User | None:
    """The user when the password matches their hash, else None (unknown names cost a hash check too)."""
    users = load_users(path)
    entry = users.get((name or "").strip())
    candidate = (password or "").encode("utf-8")[:72]
    if entry is None:
        bcrypt.checkpw(candidate, _dummy_hash())  # same time for unknown names
        return None
    if bcrypt.checkpw(candidate, entry["password_hash"].encode()):
        return User(name.strip(), entry["role"])
    return None


@functools.cache
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"not a password", bcrypt.gensalt())
