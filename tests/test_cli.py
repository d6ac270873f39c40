"""Every command, through click's runner."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from repmon import store
from repmon.cli import main
from repmon.models import Case, Mention
from tests.slack_server import SlackLike

COMMANDS = ["demo", "collect", "process", "score", "run", "dashboard", "up", "sources", "cases", "alerts",
            "report", "config", "db", "train", "user"]


def invoke(*args, env=None):
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result


@pytest.fixture
def toml(tmp_path, db_url):
    def write(extra: str = "") -> str:
        path = tmp_path / "repmon.toml"
        path.write_text(f'[database]\nurl = "{db_url}"\n{extra}')
        return str(path)
    return write


def test_help_lists_every_command_with_a_line_each():
    out = invoke("--help").output
    for name in COMMANDS:
        assert f"\n  {name} " in out, name
    assert "repmon up" in out
    assert "..." not in out.split("Commands:")[1]  # every one-line explanation is shown whole
    assert "test" in invoke("alerts", "--help").output and "check" in invoke("config", "--help").output


def test_demo_twice_adds_no_duplicate_and_opens_cases(toml):
    path = toml()
    first = invoke("--config", path, "demo")
    assert first.exit_code == 0, first.output
    assert "new mentions" in first.output
    second = invoke("--config", path, "demo", "--reset")
    assert second.exit_code == 0, second.output
    assert "demo: 0 new mentions (0 updated)" in second.output
    from repmon import config
    cfg = config.load(path)
    with store.session(cfg.database.url) as s:
        mentions = s.exec(select(func.count()).select_from(Mention)).one()
        cases = s.exec(select(func.count()).select_from(Case)).one()
    assert mentions >= 2000 and cases > 100
    listed = invoke("--config", path, "cases", "--limit", "5")
    assert listed.exit_code == 0 and listed.output.count("\n") == 5
    everything = invoke("--config", path, "cases", "--status", "all", "--limit", "3")
    assert everything.output.split("\n")[0].split()[1] == "critical"  # most urgent first


def test_collect_and_process_and_sources(toml):
    path = toml('[sources.demo]\nkind = "demo"\npage_size = 100\npages_per_run = 1\n')
    r = invoke("--config", path, "collect", "--source", "demo")
    assert r.exit_code == 0 and "demo: 100 new" in r.output
    r = invoke("--config", path, "collect")
    assert "demo: 100 new" in r.output
    r = invoke("--config", path, "process")
    assert r.exit_code == 0 and "200 mentions scored" in r.output
    r = invoke("--config", path, "sources")
    assert "demo" in r.output and "200" in r.output
    for kind in ("x", "reddit", "google_play", "app_store", "hackernews", "bluesky", "mastodon", "rss", "youtube",
                 "file_import"):
        assert kind in r.output.split("also available")[1]
    r = invoke("--config", path, "collect", "--source", "nope")
    assert r.exit_code == 1 and "--source nope: no such source" in r.output


def test_score_contract_needs_no_database(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    posts = [{"id": 1, "text": "@tidewell my order never arrived and nobody answers"},
             {"id": "b", "text": "Love the new plan, thanks @tidewell!", "lang": "en"},
             {"id": "c", "text": "@tidewell me cobraron dos veces la factura, quiero mi dinero"}]
    inp.write_text("\n".join(json.dumps(p) for p in posts) + "\n\n")
    r = invoke("score", "--input", str(inp), "--output", str(out))
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in rows] == [1, "b", "c"]
    for row in rows:
        assert set(row) >= {"id", "lang", "sentiment", "label", "needs_response", "priority", "reasons"}
        assert -1 <= row["sentiment"] <= 1 and row["label"] in ("negative", "neutral", "positive")
    assert rows[0]["needs_response"] and not rows[1]["needs_response"] and rows[2]["needs_response"]
    assert rows[2]["lang"] == "es"
    assert not list(tmp_path.glob("*.db"))
    inp.write_text('{"id": 1, "text": "ok"}\n{"id": 2}\n')
    bad = invoke("score", "--input", str(inp), "--output", str(out))
    assert bad.exit_code == 1 and "line 2" in bad.output


def test_config_check_good_and_bad(tmp_path, toml):
    ok = invoke("--config", toml(), "config", "check")
    assert ok.exit_code == 0 and "config OK" in ok.output and "Tidewell" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[sources.demo]\nkind = "demo"\npage_sise = 10\n')
    r = invoke("--config", str(bad), "config", "check")
    assert r.exit_code == 1
    assert "sources.demo.page_sise" in r.output
    assert "Traceback" not in r.output


def test_alerts_test_sends_to_every_channel_and_fails_loudly(tmp_path, toml):
    with SlackLike() as slack:
        path = toml(f'[[alerts.slack]]\nname = "oncall"\nwebhook_url = "{slack.url}/services/A"\n'
                    f'[[alerts.slack]]\nname = "pr"\nwebhook_url = "{slack.url}/services/B"\n')
        r = invoke("--config", path, "alerts", "test")
        assert r.exit_code == 0, r.output
        assert {x["path"] for x in slack.received} == {"/services/A", "/services/B"}
        slack.script((404, "no_service", {}))
        r = invoke("--config", path, "alerts", "test")
        assert r.exit_code == 1 and "oncall: FAILED" in r.output and "pr: sent" in r.output
    none = invoke("--config", toml(), "alerts", "test")
    assert none.exit_code == 1 and "no alert channels configured" in none.output


def test_alerts_dispatch_and_list(toml):
    path = toml()
    assert invoke("--config", path, "alerts", "dispatch").output.strip() == "0 sent, 0 to retry, 0 failed"
    assert "the outbox is empty" in invoke("--config", path, "alerts", "list").output


def test_report_writes_html(tmp_path, toml):
    path = toml()
    invoke("--config", path, "demo")
    out = tmp_path / "r.html"
    r = invoke("--config", path, "report", "--output", str(out))
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "weekly reputation report" in html and "By language" in html
    assert "Recurring complaint themes" in html and 'id="themes"' in html and "No complaints this week" not in html
    bad = invoke("--config", path, "report", "--week", "last")
    assert bad.exit_code == 1 and "expected an ISO week" in bad.output


def test_db_upgrade(toml):
    r = invoke("--config", toml(), "db", "upgrade")
    assert r.exit_code == 0 and "at revision 0006" in r.output


def test_db_rollups_recounts_what_scoring_counted(toml):
    import sqlalchemy as sa

    from repmon.models import MentionHour

    path = toml('[sources.demo]\nkind = "demo"\npage_size = 200\npages_per_run = 1\n')
    assert invoke("--config", path, "run", "--once").exit_code == 0
    from repmon import config

    url = config.load(path).database.url

    def counts():
        with store.get_engine(url).connect() as conn:
            return conn.execute(sa.select(sa.func.sum(MentionHour.volume), sa.func.count())).one()

    kept = counts()
    with store.get_engine(url).begin() as conn:
        conn.execute(sa.delete(MentionHour.__table__))
    assert counts()[1] == 0
    r = invoke("--config", path, "db", "rollups")
    assert r.exit_code == 0 and "recounted" in r.output
    assert counts() == kept and kept[0] > 150  # 200 demo posts, minus the brand's own replies


def test_run_once(toml):
    r = invoke("--config", toml('[sources.demo]\nkind = "demo"\npage_size = 100\npages_per_run = 1\n'), "run", "--once")
    assert r.exit_code == 0, r.output
    for stage in ("collect:", "score: 100", "cases:", "dispatch:"):
        assert stage in r.output


def test_run_stops_cleanly_on_sigterm(tmp_path, sqlite_url):
    (tmp_path / "repmon.toml").write_text(f'[database]\nurl = "{sqlite_url}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "repmon.cli", "run"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        for _ in range(120):
            time.sleep(0.5)
            try:
                with store.session(sqlite_url) as s:
                    if s.exec(select(func.count()).select_from(Mention)).one() > 0:
                        break
            except Exception:
                pass  # schema not there yet
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "stopped" in err


def test_bad_config_never_shows_a_traceback(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[dashboard]\nport = 'eighty'\n")
    r = CliRunner().invoke(main, ["--config", str(p), "sources"])
    assert r.exit_code == 1 and "dashboard.port" in r.output and "Traceback" not in r.output


def test_up_serves_the_dashboard_and_stops_on_sigterm(tmp_path):
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "repmon.cli", "up", "--port", str(port)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        health = None
        for _ in range(180):
            time.sleep(0.5)
            try:
                health = urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None:
                    break
        assert health == b"ok", proc.stderr.read() if proc.poll() is not None else "dashboard never answered"
        with store.session(f"sqlite:///{tmp_path / 'repmon.db'}") as s:
            assert s.exec(select(func.count()).select_from(Case)).one() > 100
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "demo:" in out and "stopped" in err
    with pytest.raises(OSError):  # the dashboard went down with it
        urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2)
