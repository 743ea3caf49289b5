"""Demo logins (issue 19, item 6): no password in the code or the README; random passwords generated on first
setup into a file only its owner can read, kept on later setups, new ones only for new users."""

from __future__ import annotations

import stat
from pathlib import Path

from yibao.dashboards import serve

REPO = Path(__file__).resolve().parents[1]


def test_no_password_in_the_code_or_the_docs():
    assert all("password" not in u for u in [serve.ADMIN, *serve.DEMO_USERS])
    docs = (REPO / "README.md").read_text(encoding="utf-8") + (REPO / "dashboards" / "README.md").read_text(
        encoding="utf-8")
    assert "@2026" not in docs and "| password |" not in docs


def test_passwords_are_random_private_and_stable(tmp_path):
    users = [u["username"] for u in [serve.ADMIN, *serve.DEMO_USERS]]
    first = serve.passwords(tmp_path, users)
    f = serve.logins_file(tmp_path)
    assert f.parent == serve.home(tmp_path)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert set(first) == set(users) and len(set(first.values())) == len(users)
    assert all(len(p) >= 16 for p in first.values())
    # a later setup keeps them; a new user gets one of its own; another data root gets other passwords
    assert serve.passwords(tmp_path, users) == first
    more = serve.passwords(tmp_path, users + ["county_user"])
    assert {u: more[u] for u in users} == first and more["county_user"] not in first.values()
    assert set(serve.passwords(tmp_path / "other", users).values()).isdisjoint(first.values())
    # a file someone made readable to others is put back to owner-only
    f.chmod(0o644)
    assert serve.passwords(tmp_path, users) == first and stat.S_IMODE(f.stat().st_mode) == 0o600


def test_a_password_given_with_the_user_wins(tmp_path):
    got = serve._with_passwords(tmp_path, [{"username": "a", "password": "given"}, {"username": "b"}])
    assert got[0]["password"] == "given" and got[1]["password"] == serve.passwords(tmp_path, ["b"])["b"]
    assert "a" not in __import__("json").loads(serve.logins_file(tmp_path).read_text())


def test_setup_is_redone_only_when_what_it_installs_changed(tmp_path, monkeypatch):
    """`yibao serve` skips Superset's metadata setup when its fingerprint is unchanged: the fingerprint is stable,
    and moves with the users, their passwords and the metadata database."""
    first = serve.setup_fingerprint(tmp_path, "")
    assert serve.setup_fingerprint(tmp_path, "") == first
    assert serve.setup_fingerprint(tmp_path, "postgresql://127.0.0.1/superset") != first
    f = serve.logins_file(tmp_path)
    changed = __import__("json").loads(f.read_text())
    changed["leader"] = "a-new-password-for-leader"
    f.write_text(__import__("json").dumps(changed))
    second = serve.setup_fingerprint(tmp_path, "")
    assert second != first
    monkeypatch.setattr(serve, "DEMO_USERS", [*serve.DEMO_USERS, {"username": "new_user", "roles": ["analyst"]}])
    assert serve.setup_fingerprint(tmp_path, "") not in (first, second)
