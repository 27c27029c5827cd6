"""Accounts: a users file with bcrypt-hashed passwords and one role per user (admin or reviewer).

The file is JSON, ``{"users": {"ana": {"role": "reviewer", "password_hash": "$2b$...", "created_at": "..."}}}``,
by default ``<workspace>/users.json`` (``$EQN_USERS_FILE`` overrides). It is managed with ``eqn users``. With no
file, or a file without users, the app runs in single-user local mode: one local user with the admin role.

A sign-in lasts across a reload of the app through a sign-in token: signed (HMAC-SHA256, itsdangerous) with a key
kept beside the users file (``users.json.key``, mode 0600, made on first use), expiring after SIGN_IN_MAX_AGE, tied
to the account's password hash (a new password or a removed account ends it) and to a value the browser keeps
(so a copied link does not sign in elsewhere). Signing out records the token's id in ``users.json.signed-out``
until it would have expired anyway.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import bcrypt
from itsdangerous import BadData, URLSafeTimedSerializer

ADMIN, REVIEWER = "admin", "reviewer"
ROLES = (ADMIN, REVIEWER)
USERS_FILENAME = "users.json"
LOCAL_USER = "local"
MIN_PASSWORD_LENGTH = 8
MIN_PASSWORD_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable" against throttled online guessing and more
_PRODUCT_WORDS = ("eqn", "studio", "emotion", "emotions", "review", "reviewer", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")

SIGN_IN_MAX_AGE = 12 * 3600  # seconds a sign-in token is accepted
_TOKEN_SALT = "eqn-studio sign-in"
_MAX_TOKEN_LENGTH = 1000
_SIGNED_OUT_LOCK = threading.Lock()  # app sessions are threads of one process: one writer of the signed-out file

__all__ = ["ADMIN", "REVIEWER", "ROLES", "SIGN_IN_MAX_AGE", "User", "users_file", "load_users", "add_user",
           "remove_user", "set_password", "password_problem", "authenticate", "local_user", "user_for_email", "issue_sign_in_token",
           "user_from_token", "sign_out_token"]


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


def password_problem(password: str, *, name: str = "") -> str | None:
    """Why a password may not be used, or None: too short, over bcrypt's 72 bytes, or easy to guess (a common
    password, a word with a digit, the account's own name...: a zxcvbn score under MIN_PASSWORD_SCORE)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"A password needs at least {MIN_PASSWORD_LENGTH} characters."
    if len(password.encode("utf-8")) > 72:  # bcrypt reads at most 72 bytes
        return "A password may have at most 72 bytes."
    from zxcvbn import zxcvbn

    estimate = zxcvbn(password, user_inputs=[name, *name.replace("@", " ").replace(".", " ").split(), *_PRODUCT_WORDS])
    if estimate["score"] >= MIN_PASSWORD_SCORE:
        return None
    feedback = estimate["feedback"]
    reason = feedback.get("warning") or "It would be guessed quickly."
    hint = " ".join(feedback.get("suggestions") or []) or "Use three or four uncommon words."
    return f"This password is too easy to guess. {reason.rstrip('.')}. {hint}"


def _check_password(password: str, name: str) -> bytes:
    problem = password_problem(password, name=name)
    if problem:
        raise ValueError(problem)
    return password.encode("utf-8")


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
    users[name] = {"role": role, "password_hash": bcrypt.hashpw(_check_password(password, name), bcrypt.gensalt()).decode(),
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


def user_for_email(path: str | Path, email, *, email_verified=None) -> User | None:
    """The account an identity provider's e-mail address maps to (OIDC sign-in): the user whose name is that
    address, compared without case. None when there is none, or when the provider says the address is not verified
    (email_verified False; a provider that does not say is trusted)."""
    if not isinstance(email, str) or "@" not in email or str(email_verified).strip().lower() == "false":
        return None
    wanted = email.strip().casefold()
    for name, entry in load_users(path).items():
        if name.casefold() == wanted:
            return User(name, entry["role"])
    return None


@functools.cache
def _dummy_hash() -> bytes:
    return bcrypt.hashpw(b"not a password", bcrypt.gensalt())


# ---------------------------------------------------------------- sign-in tokens (a sign-in kept across a reload)
def sign_in_key_file(path: str | Path) -> Path:
    """The sign-in key beside the users file: <users file>.key."""
    path = Path(path)
    return path.with_name(path.name + ".key")


def _signed_out_file(path: str | Path) -> Path:
    path = Path(path)
    return path.with_name(path.name + ".signed-out")


def _sign_in_key(path: str | Path, *, create: bool) -> bytes | None:
    """The key that signs sign-in tokens: 32 random bytes (hex) in a file only its owner reads, made on first use.
    None when there is none yet and create is False."""
    key_file = sign_in_key_file(path)
    if create and not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: when two processes make it at once, one key wins and both use it
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="ascii") as handle:
                handle.write(secrets.token_hex(32))
    try:
        if key_file.stat().st_mode & 0o077:
            os.chmod(key_file, 0o600)  # readable by others: a copy lost its mode; the owner alone reads it
        key = key_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return None
    if len(key) < 32:
        raise ValueError(f"The sign-in key {key_file} is damaged; delete it (everyone signs in again).")
    return key.encode("ascii")


def _serializer(key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(key, salt=_TOKEN_SALT)


def _binding(key: bytes, password_hash: str, browser: str) -> str:
    """What ties a token to the account's current password hash and to the browser (neither readable from it)."""
    digest = hmac.new(key, b"\0".join([password_hash.encode(), (browser or "").encode()]), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


def issue_sign_in_token(path: str | Path, name: str, *, browser: str = "") -> str:
    """A signed, expiring token that signs `name` in again after a reload (URL-safe text).

    browser: a value the signing-in browser keeps across reloads and a copied link does not carry (the app uses
    its session cookie); the token is refused with any other value. KeyError for an unknown user."""
    entry = load_users(path).get(name)
    if entry is None:
        raise KeyError(f"No user {name!r} in {path}.")
    key = _sign_in_key(path, create=True)
    return _serializer(key).dumps({"user": name, "id": secrets.token_urlsafe(12),
                                   "check": _binding(key, entry["password_hash"], browser)})


def _token_payload(path: str | Path, token, max_age: int) -> tuple[dict, float] | None:
    """(payload, signed at) of a well-formed token with a valid signature, not older than max_age; else None."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    key = _sign_in_key(path, create=False)
    if key is None:
        return None
    try:
        payload, signed_at = _serializer(key).loads(token, max_age=max_age, return_timestamp=True)
    except BadData:  # tampered, signed with another key, expired, or dated in the future
        return None
    if not isinstance(payload, dict) or not all(isinstance(payload.get(field), str)
                                                for field in ("user", "id", "check")):
        return None
    return payload, signed_at.timestamp()


def user_from_token(path: str | Path, token, *, browser: str = "", max_age: int = SIGN_IN_MAX_AGE) -> User | None:
    """The user a sign-in token names, or None when it is tampered, expired, signed out, for another browser, or
    its account was removed or given a new password since. The role is read from the users file now."""
    found = _token_payload(path, token, max_age)
    if found is None:
        return None
    payload, _ = found
    entry = load_users(path).get(payload["user"])
    if entry is None:
        return None
    key = _sign_in_key(path, create=False)
    if not hmac.compare_digest(payload["check"], _binding(key, entry["password_hash"], browser)):
        return None
    try:
        if payload["id"] in _signed_out(path):
            return None
    except ValueError:  # a damaged signed-out list: refuse rather than accept a token that may be signed out
        return None
    return User(payload["user"], entry["role"])


def sign_out_token(path: str | Path, token, *, max_age: int = SIGN_IN_MAX_AGE) -> None:
    """Refuse this token from now on (kept until it would have expired anyway). Invalid tokens need nothing."""
    found = _token_payload(path, token, max_age)
    if found is None:
        return
    payload, signed_at = found
    with _SIGNED_OUT_LOCK:
        ids = _signed_out(path)
        ids[payload["id"]] = signed_at + max_age
        signed_out = _signed_out_file(path)
        temporary = signed_out.with_name(f".{signed_out.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(ids, sort_keys=True), encoding="utf-8")
        os.chmod(temporary, 0o600)
        os.replace(temporary, signed_out)


def _signed_out(path: str | Path) -> dict[str, float]:
    """Signed-out token ids -> when they expire (epoch seconds); expired ones are left out."""
    try:
        ids = json.loads(_signed_out_file(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise ValueError(f"The signed-out list {_signed_out_file(path)} is damaged ({error}); delete it together "
                         f"with {sign_in_key_file(path)} (everyone signs in again).") from error
    now = time.time()
    return {token_id: float(expires) for token_id, expires in ids.items() if float(expires) > now}
