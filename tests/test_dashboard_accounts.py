"""Accounts and the audit log (issue 13), through the real app (streamlit.testing AppTest on a
real SQLite file) and, for the database's guarantees, on SQLite and a real PostgreSQL server:
the first admin's setup code, atomic first-admin creation, password change and reset, disabled
accounts, the last admin kept, and what the audit log records and who may read it."""

from __future__ import annotations

import re
import stat
import threading
import time

import pytest
from dashboard_support import APP, PASSWORD, free_port, seed_database
from sqlalchemy import delete
from streamlit.testing.v1 import AppTest

from dashboard import auth, setup_code
from dashboard.auth import USER_KEY, SignedInUser
from dashboard.config import ENV_DB, ENV_UPLOADS
from dashboard.passwords import check_password
from db import connect
from db import repository as repo
from db.models import User

GENERIC_REFUSAL = "Wrong user name or password, or the account is disabled."


def app(url: str, tmp_path, monkeypatch, user: SignedInUser | None = None) -> AppTest:
    monkeypatch.setenv(ENV_DB, url)
    monkeypatch.setenv(ENV_UPLOADS, str(tmp_path / "uploads"))
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.session_state[USER_KEY] = user
    return at


def texts(at: AppTest, kind: str) -> str:
    return re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in getattr(at, kind)))


def sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.run()
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    at.button[0].click()
    return at.run()


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def events(url: str, kind: str | None = None) -> list[tuple[str, str, str]]:
    with connect(url)() as s:
        return [(e.username, e.kind, e.target) for e in repo.audit_events(s, kind=kind)]


@pytest.fixture
def seeded(tmp_path):
    return seed_database(tmp_path)


# --- the first admin ---------------------------------------------------------------------------

def test_the_first_admin_needs_the_setup_code_and_a_wrong_one_is_refused(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'new.db'}"
    at = app(url, tmp_path, monkeypatch).run()  # started without python -m dashboard: the app prints one
    code = re.search(r"setup code:\s+(\S+)", capsys.readouterr().out).group(1)
    code_file = tmp_path / "new.db.setup-code"
    assert stat.S_IMODE(code_file.stat().st_mode) == 0o600 and code not in code_file.read_text()  # only a hash
    assert "setup code" in texts(at, "markdown")
    at.text_input(key="first_username").input("head")
    at.text_input(key="first_password").input("a-long-password")
    at.text_input(key="first_confirm").input("a-long-password")
    for wrong in ("", "AAAA-BBBB-CCCC"):
        at.text_input(key="first_code").input(wrong)
        at.button[0].click().run()
        assert "Wrong setup code" in texts(at, "error") and USER_KEY not in at.session_state
    with connect(url)() as s:
        assert repo.count_users(s) == 0
    at.text_input(key="first_code").input(code.lower().replace("-", " "))  # as typed by a person
    at.button[0].click().run()
    assert not at.exception and at.session_state[USER_KEY] == SignedInUser("head", "admin")
    assert not code_file.exists()  # used up: no other admin can be claimed with it
    assert not setup_code.check(code_file, code)
    assert events(url) == [("head", "first admin", "head"), ("head", "sign-in failed", "the first admin"),
                           ("head", "sign-in failed", "the first admin")]  # newest first
    again = app(url, tmp_path, monkeypatch).run()
    assert texts(again, "subheader") == "Sign in"  # the form is gone once the admin exists


def test_python_m_dashboard_prints_a_setup_code_only_while_there_is_no_account(tmp_path, monkeypatch, capsys):
    from dashboard import __main__ as cli

    started = []
    monkeypatch.setattr(cli.os, "execve", lambda *a: started.append(a))  # not the real server
    url = f"sqlite:///{tmp_path / 'class.db'}"
    assert cli.main(["--port", str(free_port()), "--db", url]) == 0 and started
    out = capsys.readouterr().out
    code = re.search(r"setup code:\s+([A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4})", out).group(1)
    code_file = tmp_path / "class.db.setup-code"
    assert setup_code.check(code_file, code) and stat.S_IMODE(code_file.stat().st_mode) == 0o600
    assert cli.main(["--port", str(free_port()), "--db", url]) == 0
    second = re.search(r"setup code:\s+(\S+)", capsys.readouterr().out).group(1)
    assert second != code and not setup_code.check(code_file, code)  # each start: a new code
    with connect(url)() as s:
        repo.add_user(s, "boss", "x", "admin")
    assert cli.main(["--port", str(free_port()), "--db", url]) == 0
    assert "setup code" not in capsys.readouterr().out and not code_file.exists()


def test_two_first_admin_creations_at_once_make_exactly_one_admin(db_url):
    factory = connect(db_url)
    results = {}
    with factory() as first:
        assert repo.create_first_admin(first, "first", "h1", commit=False)  # in flight, not committed yet
        other = threading.Thread(target=lambda: results.setdefault("second", _claim(factory, "second")))
        other.start()
        time.sleep(0.5)
        assert other.is_alive()  # waits for the first transaction, instead of reading "no users" beside it
        first.commit()
    other.join(30)
    assert results == {"second": False}
    with factory() as s:
        assert [(u.username, u.role) for u in repo.list_users(s)] == [("first", "admin")]
    # and a free-for-all on the empty table again: four at once, one winner
    with factory() as s:
        s.execute(delete(User))
        s.commit()
    gate = threading.Barrier(4)
    wins = []

    def race(name: str) -> None:
        gate.wait()
        wins.append(_claim(factory, name))

    threads = [threading.Thread(target=race, args=(f"admin{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with factory() as s:
        assert sorted(wins) == [False, False, False, True] and repo.count_users(s) == 1


def _claim(factory, name: str) -> bool:
    with factory() as s:
        return repo.create_first_admin(s, name, "h")


# --- passwords and disabled accounts ---------------------------------------------------------

def test_a_password_change_needs_the_current_one_and_the_old_one_stops_working(seeded, tmp_path, monkeypatch):
    at = app(seeded.url, tmp_path, monkeypatch, SignedInUser("teacher", "teacher"))
    at.switch_page("views/account.py").run()
    assert not at.exception and texts(at, "title") == "My account"
    at.text_input(key="own_current").input("not-my-password")
    at.text_input(key="own_new").input("a-brand-new-one")
    at.text_input(key="own_confirm").input("a-brand-new-one")
    click(at, "Change my password")
    assert "the current password is wrong" in texts(at, "error")
    at.text_input(key="own_current").input(PASSWORD)
    at.text_input(key="own_new").input("a-brand-new-one")
    at.text_input(key="own_confirm").input("a-brand-new-one")
    click(at, "Change my password")
    assert not at.exception and "Your password is changed" in texts(at, "success")
    assert GENERIC_REFUSAL in texts(sign_in(app(seeded.url, tmp_path, monkeypatch), "teacher", PASSWORD), "error")
    ok = sign_in(app(seeded.url, tmp_path, monkeypatch), "teacher", "a-brand-new-one")
    assert ok.session_state[USER_KEY] == SignedInUser("teacher", "teacher")
    assert ("teacher", "password changed", "teacher") in events(seeded.url)


def test_a_disabled_account_cannot_sign_in_and_is_told_only_the_generic_refusal(seeded, tmp_path, monkeypatch):
    teacher = app(seeded.url, tmp_path, monkeypatch, SignedInUser("teacher", "teacher")).run()
    assert texts(teacher, "title") == "Live class"
    at = app(seeded.url, tmp_path, monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/users.py").run()
    at.selectbox(key="manage_who").set_value("teacher").run()
    click(at, "Disable the account")
    assert not at.exception and "'teacher' is disabled" in texts(at, "success")
    refused = sign_in(app(seeded.url, tmp_path, monkeypatch), "teacher", PASSWORD)  # the right password
    wrong = sign_in(app(seeded.url, tmp_path, monkeypatch), "teacher", "wrong-password")
    assert texts(refused, "error") == texts(wrong, "error") == GENERIC_REFUSAL
    assert USER_KEY not in refused.session_state
    teacher.run()  # the tab signed in before: signed out at its next click
    assert USER_KEY not in teacher.session_state and texts(teacher, "subheader") == "Sign in"
    at.selectbox(key="manage_who").set_value("teacher").run()
    click(at, "Enable the account")
    assert sign_in(app(seeded.url, tmp_path, monkeypatch), "teacher", PASSWORD).session_state[USER_KEY].role == "teacher"
    assert {k for _, k, t in events(seeded.url) if t == "teacher"} >= {"account disabled", "account enabled",
                                                                       "sign-in failed", "sign-in"}


# --- the last admin ------------------------------------------------------------------------------

def test_the_last_admin_cannot_be_deleted_demoted_or_disabled(db_url):
    factory = connect(db_url)
    with factory() as s:
        repo.add_user(s, "boss", "h", "admin")
        repo.add_user(s, "teacher", "h", "teacher")
        for change in (lambda: repo.delete_user(s, "boss"), lambda: repo.set_role(s, "boss", "teacher"),
                       lambda: repo.set_disabled(s, "boss", True)):
            with pytest.raises(repo.AccountRefused, match="last enabled admin"):
                change()
        repo.set_role(s, "teacher", "admin")  # a second admin: now the first may go
        repo.set_disabled(s, "teacher", True)  # ... but not while the second is disabled
        with pytest.raises(repo.AccountRefused, match="last enabled admin"):
            repo.delete_user(s, "boss")
        repo.set_disabled(s, "teacher", False)
        repo.delete_user(s, "boss")
        assert [(u.username, u.role, u.disabled) for u in repo.list_users(s)] == [("teacher", "admin", False)]


def test_admins_reset_change_roles_and_delete_on_the_users_page_but_never_leave_no_admin(seeded, tmp_path,
                                                                                         monkeypatch):
    at = app(seeded.url, tmp_path, monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/users.py").run()
    at.selectbox(key="manage_who").set_value("admin").run()
    at.selectbox(key="change_role_to").set_value("teacher")
    click(at, "Change the role")
    assert "last enabled admin" in texts(at, "error")
    at.checkbox(key="delete_user_sure").check()
    click(at, "Delete the account")
    assert "cannot delete your own account" in texts(at, "error")
    with connect(seeded.url)() as s:
        assert repo.get_user(s, "admin").role == "admin"

    at.selectbox(key="manage_who").set_value("teacher").run()
    at.text_input(key="reset_password").input("handed-over-1")
    at.text_input(key="reset_confirm").input("handed-over-1")
    click(at, "Reset the password")
    assert "The password of 'teacher' is reset" in texts(at, "success")
    with connect(seeded.url)() as s:
        assert check_password("handed-over-1", repo.get_user(s, "teacher").password_hash)
    at.selectbox(key="manage_who").set_value("teacher").run()
    click(at, "Delete the account")
    assert "Tick the box" in texts(at, "error")
    at.checkbox(key="delete_user_sure").check()
    click(at, "Delete the account")
    assert not at.exception and "The account 'teacher' is deleted" in texts(at, "success")
    with connect(seeded.url)() as s:
        assert [u.username for u in repo.list_users(s)] == ["admin"]


# --- the audit log ---------------------------------------------------------------------------------

def test_the_audit_log_records_sign_ins_resets_and_erasures_and_only_admins_see_it(seeded, tmp_path, monkeypatch):
    sign_in(app(seeded.url, tmp_path, monkeypatch), "teacher", "a-wrong-password")
    at = app(seeded.url, tmp_path, monkeypatch, SignedInUser("admin", "admin"))
    at.switch_page("views/users.py").run()
    at.selectbox(key="manage_who").set_value("teacher").run()
    at.text_input(key="reset_password").input("handed-over-1")
    at.text_input(key="reset_confirm").input("handed-over-1")
    click(at, "Reset the password")
    at.switch_page("views/students.py").run()
    at.checkbox(key="erase_student_sure").check()
    click(at, "Erase")
    assert not at.exception

    at.switch_page("views/audit.py").run()
    assert not at.exception and texts(at, "title") == "Audit log"
    log = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    assert list(log["kind"][:3]) == ["erasure", "password reset", "sign-in failed"]  # newest first
    assert list(log["user"][:3]) == ["admin", "admin", "teacher"]
    assert log["detail"][2] == "wrong password" and log["target"][1] == "teacher"
    assert f"session #{seeded.session_id}" == log["target"][0] and "Student 1" in log["detail"][0]
    at.selectbox(key="audit_kind").set_value("password reset").run()
    assert list(next(d.value for d in at.dataframe if "kind" in d.value.columns)["kind"]) == ["password reset"]
    at.selectbox(key="audit_kind").set_value(None)
    at.selectbox(key="audit_user").set_value("teacher").run()
    assert set(next(d.value for d in at.dataframe if "kind" in d.value.columns)["user"]) == {"teacher"}

    teacher = app(seeded.url, tmp_path, monkeypatch, SignedInUser("teacher", "teacher"))
    teacher.switch_page("views/audit.py").run()
    assert "for admins only" in texts(teacher, "error") and not teacher.dataframe


def test_an_export_is_recorded_when_its_file_is_made(seeded):
    factory = connect(seeded.url)
    build = auth.audited_export(factory, "teacher", "session #1", "observations CSV", lambda: b"csv")
    assert events(seeded.url, "export") == []  # a button on the page is not an export
    assert build() == b"csv"
    assert events(seeded.url, "export") == [("teacher", "export", "session #1")]
