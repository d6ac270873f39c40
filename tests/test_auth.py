"""Dashboard accounts: hashes, roles, `repmon user add`, and the sign-in gate in the real app."""

import tomllib
from pathlib import Path

import pytest
import streamlit as st
from click.testing import CliRunner
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from repmon import auth, cases, config, demo_team, pipeline, store
from repmon.cli import main
from repmon.errors import ConfigError
from repmon.models import CaseEvent

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def test_hash_and_verify():
    h = auth.hash_password("correct horse battery")
    assert h.startswith("scrypt$") and "correct" not in h and auth.valid_hash(h)
    assert auth.verify("correct horse battery", h) and not auth.verify("correct horse batterY", h)
    assert auth.hash_password("correct horse battery") != h  # salted
    assert not auth.verify("x", "hunter2") and not auth.valid_hash("scrypt$1$2$3$!!$??")


def test_roles_are_ordered():
    assert auth.allows("admin", "agent") and auth.allows("agent", "agent") and auth.allows("viewer", "viewer")
    assert not auth.allows("viewer", "agent") and not auth.allows(None, "viewer") and not auth.allows("root", "viewer")


def test_login_needs_the_right_name_and_password():
    users = config.parse({"dashboard": {"users": [
        {"name": "ana", "role": "agent", "password_hash": auth.hash_password("s3cret-pass")}]}}, "t").dashboard.users
    assert auth.login(users, " ana ", "s3cret-pass") == "agent"
    assert auth.login(users, "ana", "wrong") is None and auth.login(users, "bob", "s3cret-pass") is None


def test_config_refuses_plain_passwords_without_echoing_them_and_open_addresses():
    with pytest.raises(ConfigError) as e:
        config.parse({"dashboard": {"users": [{"name": "ana", "password_hash": "hunter2"}]}}, "t")
    assert "repmon user add" in str(e.value) and "hunter2" not in str(e.value)
    with pytest.raises(ConfigError, match="exposes the dashboard beyond this machine"):
        config.parse({"dashboard": {"address": "0.0.0.0"}}, "t")


def test_user_add_prints_an_entry_the_config_accepts():
    r = CliRunner().invoke(main, ["user", "add", "radu", "--role", "viewer", "--password-stdin"],
                           input="long enough pw\n")
    assert r.exit_code == 0, r.output
    entry = tomllib.loads(r.output)["dashboard"]["users"][0]
    cfg = config.parse({"dashboard": {"users": [entry]}}, "t")
    assert auth.login(cfg.dashboard.users, "radu", "long enough pw") == "viewer"
    short = CliRunner().invoke(main, ["user", "add", "x", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("auth")
    url = f"sqlite:///{d / 'demo.db'}"
    users = "".join(f'[[dashboard.users]]\nname = "{n}"\nrole = "{n}"\npassword_hash = "{auth.hash_password(n + "-pass")}"\n'
                    for n in ("viewer", "agent", "admin"))
    path = d / "repmon.toml"
    path.write_text(f'[database]\nurl = "{url}"\n{users}')
    cfg = config.parse({"database": {"url": url}}, "test")
    store.migrate(url)
    pipeline.collect(cfg, only="demo")
    pipeline.score_pending(cfg)
    cases.update_cases(cfg)
    demo_team.work_backlog(url)
    return path


def app(secured, monkeypatch) -> AppTest:
    monkeypatch.setenv("REPMON_CONFIG", str(secured))
    monkeypatch.delenv("REPMON_DATABASE_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    return AppTest.from_file(str(APP), default_timeout=60)


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.run()
    at.text_input(key="login_name").set_value(name)
    at.text_input(key="login_password").set_value(password)
    at.button[0].click().run()
    return at


def test_sign_in_gate(secured, monkeypatch):
    at = app(secured, monkeypatch).run()
    assert at.title[0].value == "Sign in to repmon" and not at.metric  # nothing else shows
    sign_in(at, "agent", "nope")
    assert any("Wrong name or password" in e.value for e in at.error)
    sign_in(at, "agent", "agent-pass")
    assert not at.exception and at.title[0].value == "Reputation overview"
    assert not any("Demo mode" in i.value for i in at.info)
    at.button(key="sign_out").click().run()
    assert at.title[0].value == "Sign in to repmon"


def test_viewer_reads_cases_but_cannot_work_them(secured, monkeypatch):
    at = sign_in(app(secured, monkeypatch), "viewer", "viewer-pass")
    at.switch_page("views/case.py")
    at.query_params["id"] = "1"
    at.run()
    assert not at.exception and at.subheader[0].value.startswith("#1 ")
    keys = {b.key for b in at.button}
    assert not keys & {"ack", "respond", "resolve", "fb_needed", "recheck"}
    assert any("needs the agent role" in c.value for c in at.caption)


def test_agent_acts_under_their_own_name(secured, monkeypatch):
    at = sign_in(app(secured, monkeypatch), "agent", "agent-pass")
    at.switch_page("views/case.py")
    at.query_params["id"] = "2"
    at.run()
    assert not [t for t in at.text_input if t.key == "actor"]  # the signed-in name is used
    at.button(key="ack").click().run()
    assert not at.exception
    with store.session(config.load().database.url) as s:
        last = s.exec(select(CaseEvent).where(CaseEvent.case_id == 2).order_by(CaseEvent.id.desc())).first()
    assert (last.action, last.actor) == ("acknowledge", "agent")
