"""Tests of eqn_core.accounts: the users file, bcrypt hashes, roles, and `eqn users`."""
import json

import pytest

from eqn_core.accounts import ADMIN, REVIEWER, add_user, authenticate, load_users, remove_user, set_password
from eqn_core.cli import main


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
        add_user(path, "ana", "another one", role=ADMIN)
    with pytest.raises(ValueError, match="at least 8"):
        add_user(path, "cy", "short")
    with pytest.raises(ValueError, match="User name"):
        add_user(path, "<script>", "long enough")
    set_password(path, "ana", "new password")
    assert authenticate(path, "ana", "new password") is not None and authenticate(path, "ana", "correct horse") is None
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
