"""The Alerts section of the admin Sources page, through Streamlit's AppTest."""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from alerts import outbox
from repmon import store
from tests import slack_server
from tests.slack_server import TOKEN, SlackLike
from tests.test_alerts_bot import make_cfg, seed

SOURCES = Path(__file__).resolve().parents[1] / "dashboard" / "views" / "sources.py"


@pytest.fixture
def page_db(monkeypatch, sqlite_url):
    store.migrate(sqlite_url)
    monkeypatch.setenv("REPMON_DATABASE_URL", sqlite_url)
    st.cache_data.clear()
    st.cache_resource.clear()
    return sqlite_url


def render() -> AppTest:
    at = AppTest.from_file(str(SOURCES), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_sources_page_lists_failed_and_pending_alerts_with_their_error(page_db):
    at = render()
    assert [s.value for s in at.subheader] == ["Alerts"]
    assert "Every alert has been delivered" in at.success[0].value
    assert "repmon collect" in at.info[-1].value  # the empty-sources hint still shows

    with SlackLike() as slack:
        cfg = make_cfg(page_db, [{"name": "pr", "bot_token": TOKEN, "channel": "C0ALERTS1", "api_url": slack.api_url}])
        seed(cfg, 2)
        slack.script_api("chat.postMessage", slack_server.error("channel_not_found"), slack_server.rate_limited(600))
        r = outbox.dispatch(cfg)
    assert (r.failed, r.retrying) == (1, 1)

    at = render()
    table = at.dataframe[0].value
    assert list(table["status"]) == ["failed", "pending"]
    errors = list(table["last error"])
    assert "channel_not_found" in errors[0] and "ratelimited" in errors[1]
    assert "1 alert(s) failed for good" in at.error[0].value and "repmon alerts retry --failed" in at.error[0].value
    assert TOKEN not in str(table.to_dict())
    assert not at.success
