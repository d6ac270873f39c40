"""Kill -9 in the middle of a Slack send, restart, and count what reached Slack.

`repmon alerts dispatch` runs as a real process against the local Slack-like server, which
holds back its answer to one send so the process can be killed while it waits. Bot-token
channels must end with every alert exactly once, whether or not Slack had taken the killed
send; webhooks must lose nothing (a repeat is possible only when Slack had taken it)."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from sqlmodel import select

from repmon import store
from repmon.models import AlertOutbox, utcnow
from tests.slack_server import TOKEN, SlackLike
from tests.test_alerts_bot import make_cfg, seed

ALERTS = 4
KILLED_AT = 2  # the second send is the one in flight when the process dies


@pytest.fixture
def slack():
    with SlackLike() as server:
        yield server


def _dispatch(config_path: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "repmon.cli", "--config", config_path, "alerts", "dispatch"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))


def _wait_for(predicate, seconds: float = 60) -> None:
    end = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.05)


def _kill_mid_send_then_restart(cfg, config_path: str, arrived) -> str:
    proc = _dispatch(config_path)
    try:
        _wait_for(arrived)
        time.sleep(0.2)  # it is now waiting for Slack's answer
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    with store.session(cfg.database.url) as s:
        statuses = [a.status for a in s.exec(select(AlertOutbox).order_by(AlertOutbox.id)).all()]
        lease_end = s.exec(select(AlertOutbox.next_attempt_at).where(AlertOutbox.status == "sending")).one()
    assert statuses == ["sent", "sending"] + ["pending"] * (ALERTS - KILLED_AT)
    time.sleep(max(0.0, (lease_end - utcnow()).total_seconds()) + 0.3)  # the dead send's lease runs out
    again = _dispatch(config_path)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    with store.session(cfg.database.url) as s:
        assert [a.status for a in s.exec(select(AlertOutbox)).all()] == ["sent"] * ALERTS
    return out


@pytest.mark.parametrize("slack_took_it", [True, False], ids=["delivered", "lost"])
def test_bot_channel_alerts_arrive_exactly_once_across_kill_and_restart(db_url, slack, tmp_path, slack_took_it):
    cfg = make_cfg(db_url, [{"name": "pr", "bot_token": TOKEN, "channel": "C0ALERTS1", "api_url": slack.api_url}],
                   send_timeout_seconds=1, digest_after=0)
    seed(cfg, ALERTS)
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n[alerts]\nsend_timeout_seconds = 1\ndigest_after = 0\n'
                    f'[[alerts.slack]]\nname = "pr"\nbot_token = "{TOKEN}"\nchannel = "C0ALERTS1"\n'
                    f'api_url = "{slack.api_url}"\n')
    slack.delay("chat.postMessage", 60, deliver=slack_took_it, call=KILLED_AT)

    out = _kill_mid_send_then_restart(cfg, str(path), lambda: len(slack.calls("chat.postMessage")) >= KILLED_AT)

    keys = Counter(m["metadata"]["event_payload"]["key"] for m in slack.posted())
    with store.session(db_url) as s:
        expected = {a.key for a in s.exec(select(AlertOutbox)).all()}
    assert set(keys) == expected and set(keys.values()) == {1}, keys
    assert ("found already delivered" in out) is slack_took_it
    # the restart looked in the channel before deciding, and posted only what was missing
    assert len(slack.calls("chat.postMessage")) == ALERTS + (0 if slack_took_it else 1)


@pytest.mark.parametrize("slack_took_it", [True, False], ids=["delivered", "lost"])
def test_webhook_alerts_are_never_lost_across_kill_and_restart(db_url, slack, tmp_path, slack_took_it):
    hook = f"{slack.url}/services/T1/B1/x"
    cfg = make_cfg(db_url, [{"name": "oncall", "webhook_url": hook}], send_timeout_seconds=1, digest_after=0)
    ids = seed(cfg, ALERTS)
    path = tmp_path / "repmon.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n[alerts]\nsend_timeout_seconds = 1\ndigest_after = 0\n'
                    f'[[alerts.slack]]\nname = "oncall"\nwebhook_url = "{hook}"\n')
    slack.delay("webhook", 60, deliver=slack_took_it, call=KILLED_AT)

    _kill_mid_send_then_restart(cfg, str(path), lambda: len(slack.received) >= KILLED_AT)

    seen = Counter(next(i for i in ids if f"case #{i} " in m["text"]) for m in slack.delivered)
    assert set(seen) == set(ids)  # nothing lost
    # webhooks cannot be asked: only the send Slack took before the kill may arrive twice
    assert sorted(seen.values()) == ([1] * (ALERTS - 1) + [2] if slack_took_it else [1] * ALERTS)
    with store.session(db_url) as s:
        resent = s.exec(select(AlertOutbox).where(AlertOutbox.case_id == ids[KILLED_AT - 1])).one()
    assert "may repeat" in resent.last_error
