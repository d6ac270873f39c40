"""Sign-in through an OpenID Connect provider: [dashboard.oidc] validation, the role mapping, the
private settings file `repmon dashboard` hands Streamlit, and the whole flow in headless Chromium
against a local provider (tests/oidc_provider.py) through Streamlit's own st.login()."""

import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import pytest
from sqlmodel import select

from repmon import auth, config, store
from repmon.cli import _dashboard_cmd
from repmon.errors import ConfigError
from repmon.models import CaseEvent
from tests.oidc_provider import OidcProvider
from tests.test_browser import CHROMIUM, FLAGS, _free_port, shot

REPO = Path(__file__).resolve().parents[1]
CLIENT_SECRET = "client-secret-7f3a9c2e-do-not-log"
COOKIE_SECRET = "cookie-secret-4b8d1e6f0a2c5e7b9d1f3a5c7e9b1d3f"
OIDC = {"provider": "TestIdP", "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
        "client_id": "repmon-test", "client_secret": CLIENT_SECRET, "cookie_secret": COOKIE_SECRET,
        "roles": {"Ana@Example.com": "agent"}}


def dash(**oidc) -> config.DashboardConfig:
    return config.parse({"dashboard": {"oidc": dict(OIDC, **oidc)}}, "t").dashboard


def refused(data: dict) -> str:
    with pytest.raises(ConfigError) as e:
        config.parse({"dashboard": data}, "t")
    assert CLIENT_SECRET not in str(e.value) and COOKIE_SECRET[:20] not in str(e.value)
    return str(e.value)


def test_config_reads_oidc_and_counts_it_as_login():
    d = dash()
    assert d.oidc.roles == {"ana@example.com": "agent"}  # emails compare without case
    assert d.oidc_redirect_uri() == "http://localhost:8501/oauth2callback"
    assert d.oidc_redirect_uri(9100) == "http://localhost:9100/oauth2callback"
    assert CLIENT_SECRET not in repr(d) and COOKIE_SECRET not in repr(d)
    # beyond localhost: OIDC is login enough; the redirect URI follows the address, or is given
    lan = config.parse({"dashboard": {"address": "10.1.2.3", "port": 8600, "oidc": OIDC}}, "t").dashboard
    assert lan.oidc_redirect_uri() == "http://10.1.2.3:8600/oauth2callback"
    public = {"address": "0.0.0.0", "oidc": dict(OIDC, redirect_uri="https://repmon.example.com/oauth2callback/")}
    assert config.parse({"dashboard": public}, "t").dashboard.oidc_redirect_uri(1) == \
        "https://repmon.example.com/oauth2callback"
    assert "exposes the dashboard beyond this machine" in refused({"address": "0.0.0.0"})
    assert "[dashboard.oidc]" in refused({"address": "0.0.0.0"})  # the fix names OIDC too


def test_config_errors_name_the_key_and_the_fix_and_hide_secrets(monkeypatch):
    def bad(**oidc) -> str:
        return refused({"oidc": dict(OIDC, **oidc)})

    msg = bad(cookie_secret="short")
    assert "dashboard.oidc.cookie_secret" in msg and "secrets.token_urlsafe(32)" in msg and "short" not in msg
    assert "dashboard.oidc.roles" in bad(roles={"ana": "admin"}) and '"ana@example.com" = "admin"' in bad(roles={"ana": "admin"})
    assert "dashboard.oidc.roles.a@example.com" in bad(roles={"a@example.com": "boss"})
    assert "nobody could sign in" in bad(roles={})
    msg = bad(default_role="viewer")
    assert "allowed_domains" in msg and '["*"]' in msg  # letting in any account must be said out loud
    assert "needs default_role" in bad(allowed_domains=["example.com"])
    assert "not a domain" in bad(default_role="viewer", allowed_domains=["example com"])
    assert "dashboard.oidc.server_metadata_url" in bad(server_metadata_url="http://idp.example.com/x")
    assert "https://" in bad(server_metadata_url="http://idp.example.com/x")
    assert "/oauth2callback" in bad(redirect_uri="https://repmon.example.com/")
    assert "dashboard.oidc.redirect_uri" in bad(redirect_uri="repmon.example.com/oauth2callback")
    no_secret = {k: v for k, v in OIDC.items() if k != "client_secret"}
    assert "dashboard.oidc.client_secret: required key is missing" in refused({"oidc": no_secret})
    assert "oidc.redirect_uri" in refused({"address": "0.0.0.0", "oidc": OIDC})  # cannot guess the public URL
    # secrets come from the environment: a missing variable is named, its value never shown
    monkeypatch.delenv("REPMON_OIDC_SECRET", raising=False)
    with pytest.raises(ConfigError, match=r"dashboard.oidc.client_secret: environment variable REPMON_OIDC_SECRET"):
        config.parse({"dashboard": {"oidc": dict(OIDC, client_secret="${REPMON_OIDC_SECRET}")}}, "t")
    monkeypatch.setenv("REPMON_OIDC_SECRET", "from-the-env")
    assert config.parse({"dashboard": {"oidc": dict(OIDC, client_secret="${REPMON_OIDC_SECRET}")}},
                        "t").dashboard.oidc.client_secret == "from-the-env"


def test_the_example_config_block_is_valid(monkeypatch):
    text = (REPO / "config.example.toml").read_text()
    block = text[text.index("# [dashboard.oidc]"):].split("\n\n")[0]
    toml = "\n".join(line.removeprefix("# ") for line in block.splitlines())
    monkeypatch.setenv("REPMON_OIDC_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("REPMON_OIDC_COOKIE_SECRET", COOKIE_SECRET)
    o = config.parse(tomllib.loads(toml), "example").dashboard.oidc
    assert o.provider == "Google" and o.client_secret == CLIENT_SECRET and o.roles["ana@example.com"] == "admin"
    assert auth.oidc_role(o, {"email": "someone@example.com"}) == ("viewer", "")


def test_role_mapping():
    o = dash(roles={"ana@example.com": "admin"}, default_role="viewer", allowed_domains=["Example.com"]).oidc
    assert auth.oidc_role(o, {"email": "ANA@example.com", "email_verified": True}) == ("admin", "")
    assert auth.oidc_role(o, {"email": "bob@example.com"}) == ("viewer", "")
    role, why = auth.oidc_role(o, {"email": "eve@example.org", "email_verified": True})
    assert role is None and "eve@example.org has no access" in why
    assert auth.oidc_role(o, {"email": "bob@sub.example.com"})[0] is None  # a domain is exact
    role, why = auth.oidc_role(o, {"email": "ana@example.com", "email_verified": False})
    assert role is None and "not verified" in why  # a provider that lets anyone type an address
    assert auth.oidc_role(o, {"name": "Ana"})[0] is None and "email" in auth.oidc_role(o, {"name": "Ana"})[1]
    only_listed = dash().oidc
    assert auth.oidc_role(only_listed, {"email": "bob@example.com"})[0] is None
    anyone = dash(default_role="viewer", allowed_domains=["*"]).oidc
    assert auth.oidc_role(anyone, {"email": "x@anywhere.test"}) == ("viewer", "")
    assert auth.oidc_role(anyone, {"email": "ana@example.com"}) == ("agent", "")


def test_settings_file_is_private_complete_and_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    d = dash(client_secret='se"cr\\et\nwith\ttricky \x7f chars ✓ 😀', redirect_uri="https://r.example.com/oauth2callback")
    path = auth.write_streamlit_auth(d, 9100)
    assert path.parent.parent == tmp_path and path.parent.name.startswith("repmon-auth-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    written = tomllib.loads(path.read_text(encoding="utf-8"))
    assert written == {"auth": {"redirect_uri": "https://r.example.com/oauth2callback", "cookie_secret": COOKIE_SECRET,
                                "client_id": "repmon-test", "client_secret": d.oidc.client_secret,
                                "server_metadata_url": OIDC["server_metadata_url"]}}
    second = auth.write_streamlit_auth(dash(), 9100)  # a new folder each time; the port is the one served
    assert second.parent != path.parent
    assert tomllib.loads(second.read_text())["auth"]["redirect_uri"] == "http://localhost:9100/oauth2callback"
    auth.remove_streamlit_auth(path)
    auth.remove_streamlit_auth(second)
    assert list(tmp_path.iterdir()) == []


def test_settings_file_never_lands_in_the_repo_or_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.chdir(REPO)
    path = auth.write_streamlit_auth(dash())
    try:
        assert path.parent.parent == Path(tempfile.gettempdir())
        assert REPO not in path.parents and Path.cwd() not in path.parents
    finally:
        auth.remove_streamlit_auth(path)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))  # unusable: falls back, no error
    path = auth.write_streamlit_auth(dash())
    auth.remove_streamlit_auth(path)
    assert path.parent.parent == Path(tempfile.gettempdir())


def test_streamlit_is_pointed_at_the_file_only_with_oidc(tmp_path):
    cmd = _dashboard_cmd(config.parse({"dashboard": {"oidc": OIDC}}, "t"), 9100, tmp_path / "secrets.toml")
    assert cmd[cmd.index("--secrets.files") + 1] == str(tmp_path / "secrets.toml")
    assert "--secrets.files" not in _dashboard_cmd(config.parse({}, "t"), 9100)
    assert not any(CLIENT_SECRET in part or COOKIE_SECRET in part for part in cmd)  # ps shows the command line


def test_dashboard_started_without_streamlits_settings_refuses_everyone(tmp_path, monkeypatch):
    """`streamlit run dashboard/app.py` by hand, with [dashboard.oidc] but no [auth] for Streamlit:
    a clear error and no page, never an open dashboard."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    conf = tmp_path / "repmon.toml"
    conf.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "x.db"}"\n[dashboard.oidc]\n'
                    f'server_metadata_url = "{OIDC["server_metadata_url"]}"\nclient_id = "c"\nclient_secret = "s"\n'
                    f'cookie_secret = "{COOKIE_SECRET}"\nroles = {{"ana@example.com" = "admin"}}\n')
    monkeypatch.setenv("REPMON_CONFIG", str(conf))
    monkeypatch.delenv("REPMON_DATABASE_URL", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Sign in to repmon"
    assert any("start the dashboard with `repmon dashboard`" in e.value for e in at.error)
    assert not at.button and not at.metric and not at.text_input  # no button, no form, no page


# --- the whole flow in headless Chromium ------------------------------------------------------


@pytest.fixture(scope="module")
def signed_in_dashboard(tmp_path_factory):
    """`repmon dashboard` on the demo data with [dashboard.oidc] pointing at a local provider
    (secrets from the environment) and one password user; yields what the test needs to look at."""
    from tests.test_dashboard import load_demo

    d = tmp_path_factory.mktemp("oidc")
    db = f"sqlite:///{d / 'demo.db'}"
    load_demo(db)
    port = _free_port()
    provider = OidcProvider("repmon-test", CLIENT_SECRET, (f"http://localhost:{port}/oauth2callback",)).start()
    conf = d / "repmon.toml"
    conf.write_text(
        f'[database]\nurl = "{db}"\n'
        f'[[dashboard.users]]\nname = "radu"\nrole = "viewer"\npassword_hash = "{auth.hash_password("radu-pass")}"\n'
        f'[dashboard.oidc]\nprovider = "TestIdP"\nserver_metadata_url = "{provider.metadata_url}"\n'
        'client_id = "repmon-test"\nclient_secret = "${TEST_OIDC_CLIENT_SECRET}"\n'
        'cookie_secret = "${TEST_OIDC_COOKIE_SECRET}"\nroles = {"ana@example.com" = "agent"}\n'
        'default_role = "viewer"\nallowed_domains = ["example.com"]\n')
    run = d / "run"
    run.mkdir(mode=0o700)
    env = {k: v for k, v in os.environ.items() if k != "REPMON_DATABASE_URL"}
    env.update(REPMON_CONFIG=str(conf), XDG_RUNTIME_DIR=str(run), TEST_OIDC_CLIENT_SECRET=CLIENT_SECRET,
               TEST_OIDC_COOKIE_SECRET=COOKIE_SECRET)
    log = d / "dashboard.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "repmon.cli", "dashboard", "--port", str(port)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=d)

    def stop() -> str:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(20)
        return log.read_text(errors="replace")

    try:
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"repmon dashboard exited: {log.read_text()}")
                time.sleep(0.5)
        files = list(run.glob("repmon-auth-*/secrets.toml"))
        yield {"url": f"http://localhost:{port}", "db": db, "provider": provider, "files": files, "run": run,
               "stop": stop}
    finally:
        stop()
        provider.stop()


@pytest.fixture(scope="module")
def browser_page(signed_in_dashboard):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def _sign_in_page(page, url: str) -> None:
    page.goto(url, wait_until="networkidle")
    page.get_by_role("button", name="Sign in with TestIdP").wait_for(timeout=60_000)


def _sign_out(page) -> None:
    page.locator('[data-testid="stSidebar"]').get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in with TestIdP").wait_for(timeout=60_000)


def test_sign_in_with_the_provider_work_a_case_sign_out(browser_page, signed_in_dashboard):
    from dashboard import queries

    page, s = browser_page, signed_in_dashboard
    (secrets,) = s["files"]  # written while the server runs: private, and pointed at by the command line
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600
    assert tomllib.loads(secrets.read_text())["auth"]["client_secret"] == CLIENT_SECRET

    _sign_in_page(page, s["url"])
    page.get_by_role("textbox", name="Password").wait_for(timeout=30_000)  # password users sign in beside it
    assert not page.get_by_text("Reputation index", exact=True).count()
    s["provider"].sign_in_as("Ana@Example.com", "Ana Popescu")
    page.get_by_role("button", name="Sign in with TestIdP").click()
    page.get_by_text("Reputation index", exact=True).wait_for(timeout=60_000)  # back from the provider, in
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Signed in as ana@example.com (agent)").wait_for(timeout=30_000)
    assert not sidebar.get_by_text("Sources", exact=True).count()  # an agent is not an admin
    page.locator("canvas, svg.marks").first.wait_for(timeout=60_000)  # the Overview drew its charts
    shot(page, "oidc_signed_in")
    assert "/token" in s["provider"].received and s["provider"].issued[-1]["email"] == "Ana@Example.com"

    # The identity is a cookie: a new page (a new Streamlit session) is still signed in, and the
    # case history carries the email.
    case_id = int(queries.case_queue(s["db"]).iloc[0]["id"])
    page.goto(f"{s['url']}/case?id={case_id}", wait_until="networkidle")
    page.get_by_role("button", name="Acknowledge").click()
    for _ in range(120):
        with store.session(s["db"]) as db:
            last = db.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id.desc())).first()
        if last and last.action == "acknowledge":
            break
        page.wait_for_timeout(250)
    assert (last.action, last.actor) == ("acknowledge", "ana@example.com")

    _sign_out(page)
    assert "/logout" in s["provider"].received  # the provider's end_session_endpoint, then back
    page.goto(s["url"], wait_until="networkidle")  # the cookie is gone: a fresh page asks again
    page.get_by_role("button", name="Sign in with TestIdP").wait_for(timeout=60_000)

    # Not listed, but in allowed_domains: default_role
    s["provider"].sign_in_as("bob@example.com")
    page.get_by_role("button", name="Sign in with TestIdP").click()
    page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as bob@example.com (viewer)").wait_for(timeout=60_000)
    _sign_out(page)
    assert s["provider"].refused == []


def test_an_email_without_a_role_is_refused(browser_page, signed_in_dashboard):
    page, s = browser_page, signed_in_dashboard
    _sign_in_page(page, s["url"])
    s["provider"].sign_in_as("eve@elsewhere.test")
    page.get_by_role("button", name="Sign in with TestIdP").click()
    page.get_by_text("eve@elsewhere.test has no access to this dashboard", exact=False).wait_for(timeout=60_000)
    assert "/token" in s["provider"].received  # the provider did sign her in; repmon refused
    assert not page.get_by_text("Reputation index", exact=True).count()
    page.get_by_role("textbox", name="Password").wait_for(timeout=30_000)  # a password account still works
    assert not page.locator('[data-testid="stSidebarNav"]').count()
    shot(page, "oidc_refused")
    page.goto(f"{s['url']}/queue", wait_until="networkidle")  # no way around it by URL
    page.get_by_text("has no access to this dashboard", exact=False).wait_for(timeout=60_000)
    assert not page.get_by_text("Select a row to open the case").count()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in with TestIdP").wait_for(timeout=60_000)
    assert not page.get_by_text("has no access", exact=False).count()
    assert s["provider"].refused == []


def test_secrets_never_reach_the_log_and_the_file_goes_with_the_server(signed_in_dashboard):
    """Last: stops the module's server (SIGTERM, as systemd would) and looks at what it left."""
    s = signed_in_dashboard
    (secrets,) = s["files"]
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o600 and CLIENT_SECRET in secrets.read_text()
    log = s["stop"]()
    assert f"Streamlit's settings in {secrets} (0600, removed on exit)" in log
    assert "sign-in with TestIdP (OIDC)" in log
    assert CLIENT_SECRET not in log and COOKIE_SECRET not in log
    assert not secrets.exists() and list(s["run"].iterdir()) == []
