"""Tests of eqn_core.review.accounts: the users file, bcrypt hashes, roles, and `eqn users`."""
import json

import pytest

from eqn_core.cli.main import main
from eqn_core.review.accounts import ADMIN, REVIEWER, add_user, authenticate, load_users, remove_user, set_password


def test_users_file_stores_only_hashes_and_checks_passwords(tmp_path):
    path = tmp_path / "users.json"
    assert load_users(path) == {}
    add_user(path, "ana", "correct horse", role=REVIEWER)
    add_user(path, "boss", "admin password", role=ADMIN)
    text = path.read_text()
    assert "correct horse" not in text and json.loads(text)["users"]["ana"]["password_hash"].startswith("$2")
    assert (path.stat().st_mode & 0o777) == 0o600
    assert authenticate(path, "ana", "correct horse").role == REVIEWER
    assert authenticate(path, "boss", "admin password").is_admin
    assert authenticate(path, "ana", "wrong password") is None and authenticate(path, "nobody", "x") is None
    with pytest.raises(ValueError, match="exists"):
        add_user(path, "ana", "another violet kettle", role=ADMIN)
    with pytest.raises(ValueError, match="at least 8"):
        add_user(path, "cy", "short")
    with pytest.raises(ValueError, match="User name"):
        add_user(path, "<script>", "long enough violet kettle")
    set_password(path, "ana", "new quartz harbor 93")
    assert authenticate(path, "ana", "new quartz harbor 93") is not None and authenticate(path, "ana", "correct horse") is None
    remove_user(path, "ana")
    assert sorted(load_users(path)) == ["boss"]


def test_eqn_users_add_list_remove(tmp_path, monkeypatch, capsys):
    workspace = str(tmp_path / "ws")
    monkeypatch.setenv("EQN_PASSWORD", "reviewer secret")
    assert main(["-w", workspace, "users", "add", "ana", "--role", "reviewer"]) == 0
    assert authenticate(tmp_path / "ws" / "users.json", "ana", "reviewer secret").role == REVIEWER
    assert main(["-w", workspace, "users", "list"]) == 0
    assert "ana" in capsys.readouterr().out
    assert main(["-w", workspace, "users", "add", "ana", "--role", "admin"]) == 2  # exists, no --replace
    assert main(["-w", workspace, "users", "remove", "ana"]) == 0
    assert load_users(tmp_path / "ws" / "users.json") == {}


# ------------------------------------------------------------------------ sign-in tokens (kept across a reload)
from eqn_core.review.accounts import (
    SIGN_IN_MAX_AGE,
    issue_sign_in_token,
    sign_in_key_file,
    sign_out_token,
    user_from_token,
)


@pytest.fixture
def users(tmp_path):
    path = tmp_path / "users.json"
    add_user(path, "ana", "ana harbor violet 58", role=REVIEWER)
    add_user(path, "boss", "boss quartz maple 71", role=ADMIN)
    return path


def test_a_sign_in_token_names_its_user_and_the_key_is_private(users):
    assert not sign_in_key_file(users).exists()
    token = issue_sign_in_token(users, "ana", browser="browser-1")
    assert (sign_in_key_file(users).stat().st_mode & 0o777) == 0o600  # made on first use, owner only
    assert user_from_token(users, token, browser="browser-1") == user_from_token(users, token, browser="browser-1")
    assert user_from_token(users, token, browser="browser-1").name == "ana"
    assert "password" not in token and "$2" not in token  # nothing of the hash travels
    assert issue_sign_in_token(users, "ana", browser="browser-1") != token  # each sign-in its own token
    with pytest.raises(KeyError):
        issue_sign_in_token(users, "nobody")


def test_tampered_foreign_or_other_browser_tokens_are_refused(users, tmp_path):
    token = issue_sign_in_token(users, "ana", browser="browser-1")
    payload, signature = token.rsplit(".", 1)
    # change the signature's first character: the last one of a base64 text may carry only padding bits
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert user_from_token(users, payload + "." + flipped, browser="browser-1") is None
    boss = issue_sign_in_token(users, "boss", browser="browser-1")
    assert user_from_token(users, boss.split(".", 1)[0] + "." + token.split(".", 1)[1], browser="browser-1") is None
    assert user_from_token(users, token, browser="browser-2") is None  # a copied link in another browser
    assert user_from_token(users, token) is None
    for junk in ("", "not a token", None, 42, "x" * 5000):
        assert user_from_token(users, junk, browser="browser-1") is None
    other = tmp_path / "other" / "users.json"  # another workspace's key does not sign for this one
    add_user(other, "ana", "ana harbor violet 58", role=ADMIN)
    assert user_from_token(other, token, browser="browser-1") is None
    assert user_from_token(other, issue_sign_in_token(other, "ana"), browser="").role == ADMIN


def test_an_expired_token_is_refused(users, monkeypatch):
    import time

    token = issue_sign_in_token(users, "ana")
    signed = time.time()
    monkeypatch.setattr(time, "time", lambda: signed + SIGN_IN_MAX_AGE - 60)
    assert user_from_token(users, token).name == "ana"
    monkeypatch.setattr(time, "time", lambda: signed + SIGN_IN_MAX_AGE + 60)
    assert user_from_token(users, token) is None
    monkeypatch.setattr(time, "time", lambda: signed - 3600)  # dated in the future
    assert user_from_token(users, token) is None


def test_sign_out_a_new_password_or_removal_ends_a_token(users):
    first, second = issue_sign_in_token(users, "ana"), issue_sign_in_token(users, "ana")
    sign_out_token(users, first)
    assert user_from_token(users, first) is None and user_from_token(users, second).name == "ana"
    signed_out = users.with_name("users.json.signed-out")
    assert (signed_out.stat().st_mode & 0o777) == 0o600 and len(json.loads(signed_out.read_text())) == 1
    sign_out_token(users, "not a token")  # nothing to do
    add_user(users, "ana", "ana harbor violet 58", role=ADMIN, replace=True)  # a new hash (even for the same password)
    assert user_from_token(users, second) is None
    boss = issue_sign_in_token(users, "boss")
    remove_user(users, "boss")
    assert user_from_token(users, boss) is None


def test_the_role_comes_from_the_users_file_now(users):
    token = issue_sign_in_token(users, "boss")
    entry = json.loads(users.read_text())
    entry["users"]["boss"]["role"] = REVIEWER  # same hash, new role
    users.write_text(json.dumps(entry))
    assert user_from_token(users, token).role == REVIEWER


def test_an_identity_providers_email_maps_to_the_account_of_that_name(tmp_path):
    from eqn_core.review.accounts import user_for_email

    path = tmp_path / "users.json"
    add_user(path, "ana@example.org", "ana harbor violet 58", role=REVIEWER)
    add_user(path, "boss", "boss quartz maple 71", role=ADMIN)
    assert user_for_email(path, "Ana@Example.org").name == "ana@example.org"  # addresses compare without case
    assert user_for_email(path, "ana@example.org", email_verified=True).role == REVIEWER
    assert user_for_email(path, "ana@example.org", email_verified=False) is None
    assert user_for_email(path, "ana@example.org", email_verified="false") is None
    assert user_for_email(path, "ben@example.org") is None and user_for_email(path, "boss") is None
    assert user_for_email(path, None) is None
