"""Property-based fuzzing of repmon's other inputs (issue #9, "Bad input"): the config file,
import files, the scoring JSONL contract and the scorers themselves; and the daemon around them.

  * config: any TOML text, and any value at any known key, gives a Config or a ConfigError that
    names the key, never another exception; secrets (tokens, webhook URLs, passwords, database
    URL passwords) never appear in the error.
  * file import (CSV / JSON Lines): a clear error naming the file, or bad rows skipped with a log
    line naming file and line; the good rows are stored.
  * scoring: each JSONL line gives an assessment or a ValueError naming the line; the scorers
    never fail on any text.
  * the scheduler's collect job survives a source answering garbage, and the next run proceeds.
  * a source's credentials never reach the logs or its recorded error, whatever its API answers.

Examples per test: profile "repmon-fuzz" (40); HYPOTHESIS_PROFILE=ci selects "repmon-fuzz-ci".
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import re
import time as time_mod
from datetime import datetime, timezone
from typing import Any

import httplib2
import httpx
import pytest
import respx
import responses
from hypothesis import event, example, given, note
from hypothesis import strategies as st
from sqlmodel import select

from collectors import bluesky as bluesky_mod
from collectors.youtube import YouTubeCollector
from repmon import config, logs, pipeline, scheduler, store
from repmon.errors import ConfigError
from repmon.models import CATEGORIES, Mention
from scoring import get_scorer
from scoring.base import Assessment, Post
from scoring.jsonl import parse_line, score_jsonl
from tests import test_collector_hackernews as ht
from tests import test_collector_mastodon as mt
from tests import test_collector_youtube as yt
from tests import test_fuzz_collectors as fc

FUZZ = fc.FUZZ  # the profile the collectors' fuzzing uses (HYPOTHESIS_PROFILE=ci raises the examples)

ODD_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn"]), max_size=12),
    st.sampled_from(["", " ", "\x00", "😡" * 5, "\u202eTidewell\u202c", "خدمة Tidewell سيئة", "null", "${NOT_SET_ANYWHERE}",
                     "$", "${", "UTC", "Europe/Bucharest", "a" * 300, "../../etc/passwd", "09:00", "24:00", "*"]),
)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
                 ODD_TEXT, st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=4), st.integers(), max_size=2))


# -- config ------------------------------------------------------------------------------------

# Secret values: each is long enough for the log redaction (6+ characters) and unmistakable in a message.
SECRETS = {
    "db_password": "Pg-pass-7Qe9-hunter2",
    "webhook": "https://hooks.slack.com/services/T0001/B0002/wh-secret-XyZ123abc",
    "bot_token": "xoxb-1111-2222-bot-secret-AbC",
    "smtp_password": "smtp-secret-PaSs-77",
    "oidc_client_secret": "oidc-client-secret-QQ11",
    "cookie_secret": "cookie-secret-" + "k" * 30,
    "llm_api_key": "sk-llm-key-secret-9876",
    "x_bearer": "AAAA-x-bearer-secret-55",
    "reddit_secret": "reddit-client-secret-66",
    "bluesky_password": "bsky-app-pass-secret-77",
    "youtube_key": "AIzaSy-youtube-secret-88",
    "mastodon_token": "mastodon-token-secret-99",
}
SECRET_WORDS = ("password", "token", "secret", "key", "webhook")
PASTED = [SECRETS["webhook"], SECRETS["bot_token"], SECRETS["llm_api_key"], SECRETS["youtube_key"],
          f"postgres://repmon:{SECRETS['db_password']}@db/repmon", f"https://u:{SECRETS['smtp_password']}@x.example/",
          f"mysql://root:{SECRETS['db_password']}@localhost"]
USER_HASH = "scrypt$16384$8$1$O5p5YubUqI14pcWw0bw4mQ==$Iv/ugiI5kZUNB2WkYVssdJIw7ByPVI1kz0Xb/RdeIBA="


def full_config() -> dict:
    """A config that sets every section, with a secret wherever the config takes one."""
    return {
        "database": {"url": f"postgresql+psycopg://repmon:{SECRETS['db_password']}@db.internal:5432/repmon",
                     "retention_days_raw": 90, "retention_days": 0},
        "brands": [{"name": "Tidewell", "keywords": ["tidewell", "tidewell mobile"], "handles": ["@TidewellCare"],
                    "all_of": [], "exclude": ["tidewell beach"], "languages": ["en", "fa"], "competitors": ["Orbitel"]}],
        "sources": {"x": {"kind": "x", "bearer_token": SECRETS["x_bearer"]},
                    "reddit": {"kind": "reddit", "client_id": "cid", "client_secret": SECRETS["reddit_secret"],
                               "user_agent": "server:repmon:1.0 (by /u/x)"},
                    "bsky": {"kind": "bluesky", "handle": "acme.bsky.social", "app_password": SECRETS["bluesky_password"]},
                    "yt": {"kind": "youtube", "api_key": SECRETS["youtube_key"], "channel_ids": ["UCx"]},
                    "masto": {"kind": "mastodon", "instance": "https://mastodon.social",
                              "access_token": SECRETS["mastodon_token"], "enabled": False}},
        "scoring": {"scorer": "triage", "negative_bias": 0.5, "negative_threshold": -0.05, "positive_threshold": 0.05,
                    "high_reach": 10000},
        "cases": {"join_window_hours": 48, "first_response_minutes": {"critical": 30, "high": 60},
                  "business_hours": {"enabled": True, "timezone": "Europe/Bucharest", "days": ["mon", "tue"],
                                     "start": "09:00", "end": "18:00"},
                  "assignees": ["ana", "bo"], "round_robin": True, "escalate_to": "ana"},
        "policy": {"refund": True, "replacement": False, "voucher": False},
        "replies": {"generator": {"enabled": True, "base_url": "http://localhost:11434/v1", "model": "llama3.1:8b",
                                  "api_key": SECRETS["llm_api_key"], "timeout_seconds": 20}},
        "alerts": {"min_priority": "high", "max_age_hours": 24, "source_down_minutes": 60,
                   "slack": [{"name": "hook", "webhook_url": SECRETS["webhook"]},
                             {"name": "bot", "bot_token": SECRETS["bot_token"], "channel": "C0123ABCD"}],
                   "routes": [{"brands": ["Tidewell"], "min_priority": "high", "kinds": ["case_opened"],
                               "channels": ["hook", "bot"]}],
                   "spikes": {"enabled": True, "baseline_weeks": 4}},
        "scheduler": {"collect_seconds": 300, "score_seconds": 60, "cases_seconds": 60, "dispatch_seconds": 30},
        "dashboard": {"port": 8501, "address": "0.0.0.0", "timezone": "Europe/Bucharest",
                      "users": [{"name": "ana", "password_hash": USER_HASH, "role": "admin"}],
                      "oidc": {"server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration",
                               "client_id": "client-id", "client_secret": SECRETS["oidc_client_secret"],
                               "cookie_secret": SECRETS["cookie_secret"],
                               "redirect_uri": "https://repmon.example.com/oauth2callback",
                               "roles": {"ana@example.com": "admin"}, "default_role": "viewer",
                               "allowed_domains": ["example.com"]}},
        "reports": {"format": "pdf", "weekly": {"enabled": True, "day": "mon", "time": "08:00", "timezone": "UTC"},
                    "email": {"host": "smtp.example.com", "port": 587, "security": "starttls", "username": "repmon",
                              "password": SECRETS["smtp_password"], "sender": "repmon@example.com",
                              "to": ["team@example.com"]},
                    "slack_channels": ["bot"]},
    }


def _keys(doc: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.add(str(k))
            out |= _keys(v)
    elif isinstance(doc, list):
        for v in doc:
            out |= _keys(v)
    return out


KNOWN_KEYS = _keys(full_config()) | {name for model in (config.Config, config.DatabaseConfig, config.BrandConfig,
                                                       config.ScoringConfig, config.CasesConfig, config.AlertsConfig,
                                                       config.SlackChannel, config.AlertRoute, config.DashboardConfig,
                                                       config.DashboardOidc, config.ReportsConfig, config.EmailConfig,
                                                       config.RepliesConfig, config.GeneratorConfig,
                                                       config.BusinessHoursConfig, config.SchedulerConfig,
                                                       config.ReportScheduleConfig, config.SpikesConfig,
                                                       config.DashboardUser, config.PolicyConfig, config.SlaConfig)
                                     for name in model.model_fields}


def assert_no_secret(text: str) -> None:
    for name, secret in SECRETS.items():
        assert secret not in text, f"the {name} secret is in: {text[:2000]}"
    assert "hunter2" not in text and "wh-secret" not in text  # nor a recognisable piece of one


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    out = []
    for k, v in items:
        out.append(prefix + (k,))
        out += _paths(v, prefix + (k,))
    return out


@st.composite
def mutated_config(draw: Any) -> tuple[dict, list[tuple]]:
    """full_config() with 1..3 values dropped, replaced with junk or with another key's secret."""
    doc, changed = full_config(), []
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        parent = doc
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["delete", "junk", "junk", "secret", "rename"]))
        if op == "delete":
            del parent[path[-1]]
        elif op == "secret":
            # A secret pasted in the wrong place: where a table or list belongs, in the wrong secret's key,
            # or a token or URL with credentials where a URL, channel or name goes.
            named = next((str(p) for p in reversed(path) if not isinstance(p, int)), "")
            if isinstance(parent[path[-1]], (dict, list)) or any(w in named for w in SECRET_WORDS):
                parent[path[-1]] = draw(st.sampled_from(list(SECRETS.values())))
            else:
                parent[path[-1]] = draw(st.sampled_from(PASTED))
        elif op == "rename" and isinstance(parent, dict):  # a typo in the key
            parent[str(path[-1]) + draw(st.sampled_from(["_", "s", "x"]))] = parent.pop(path[-1])
        else:
            parent[path[-1]] = draw(JUNK)
        changed.append(path)
    note(f"changed: {changed}")
    return doc, changed


def _config_with(path: tuple, value: Any) -> tuple[dict, list[tuple]]:
    doc = full_config()
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc, [path]


def test_full_config_is_valid():
    cfg = config.parse(full_config(), "fuzz")
    assert cfg.alerts.slack[1].bot_token == SECRETS["bot_token"]


@FUZZ
@example(case=_config_with(("database",), SECRETS["db_password"]))  # found by fuzzing: the value was echoed
@example(case=_config_with(("database", "url"), f"postgres://repmon:{SECRETS['db_password']}@db/repmon"))
@example(case=_config_with(("alerts", "slack", 1, "channel"), SECRETS["bot_token"]))
@example(case=_config_with(("dashboard", "timezone"), "Europe/" + "x" * 300))  # OSError from zoneinfo
@example(case=_config_with(("replies", "templates_dir"), "d/" * 3000))  # OSError from the file system
@example(case=_config_with(("reports", "slack_channels", 0), SECRETS["webhook"]))  # echoed by a cross-check
@example(case=_config_with(("brands", 0, "name"), SECRETS["webhook"]))  # ... in the list of expected names
@given(case=mutated_config())
def test_config_values_give_a_config_or_an_error_naming_the_key(case):
    doc, changed = case
    try:
        config.parse(doc, "fuzz.toml")
    except ConfigError as exc:
        message = str(exc)
        note(message)
        assert message.startswith("fuzz.toml: ")
        # "section.key[0].key: what is wrong": some part of a key path is a key of the config.
        named = {part for path in re.findall(r"([^\s:;]+):", message[len("fuzz.toml: "):])
                 for part in re.split(r"[.\[\]]", path) if part}
        assert named & (KNOWN_KEYS | _keys(doc)), f"no key named in {message!r}"
        assert_no_secret(message)


@FUZZ
@given(value=st.one_of(ODD_TEXT, st.sampled_from(["mysql", "postgres", "postgresql", "sqlite", "postgresql+psycopg"])),
       host=st.sampled_from(["db.internal", "", "[::1]", "h:x"]))
def test_database_url_password_never_shown(value, host):
    """The password of a database URL is kept out of the error, whatever else is wrong with the URL."""
    url = f"{value}://repmon:{SECRETS['db_password']}@{host}/repmon"
    try:
        config.parse({"database": {"url": url, "retention_days": -1}}, "fuzz")
    except ConfigError as exc:
        assert "database." in str(exc)
        assert_no_secret(str(exc))


@FUZZ
@given(secret=st.sampled_from(list(SECRETS.values())),
       where=st.sampled_from([("alerts", "slack"), ("dashboard", "users"), ("brands",), ("database",), ("reports", "email"),
                              ("alerts", "routes"), ("dashboard", "oidc"), ("replies", "generator")]))
def test_a_secret_in_the_wrong_place_is_not_echoed(secret, where):
    """A secret pasted where a table or list belongs (e.g. `slack = ["https://hooks..."]`)."""
    doc = full_config()
    parent = doc
    for part in where[:-1]:
        parent = parent[part]
    parent[where[-1]] = [secret] if isinstance(parent[where[-1]], list) else secret
    with pytest.raises(ConfigError) as exc:
        config.parse(doc, "fuzz")
    assert ".".join(where) in str(exc.value)
    assert_no_secret(str(exc.value))


def toml_text() -> str:
    """full_config() as a TOML file (there is no TOML writer among the dependencies)."""
    return f'''
[database]
url = "postgresql+psycopg://repmon:{SECRETS['db_password']}@db.internal:5432/repmon"
retention_days_raw = 90

[[brands]]
name = "Tidewell"
keywords = ["tidewell", "tidewell mobile"]
handles = ["@TidewellCare"]
languages = ["en", "fa"]

[sources.x]
kind = "x"
bearer_token = "${{X_BEARER_TOKEN}}"

[sources.reddit]
kind = "reddit"
client_id = "cid"
client_secret = "{SECRETS['reddit_secret']}"
user_agent = "server:repmon:1.0 (by /u/x)"

[scoring]
scorer = "rules"
high_reach = 10_000

[cases.business_hours]
enabled = true
timezone = "Europe/Bucharest"
start = "09:00"
end = "18:00"

[[alerts.slack]]
name = "hook"
webhook_url = "{SECRETS['webhook']}"

[[alerts.slack]]
name = "bot"
bot_token = "{SECRETS['bot_token']}"
channel = "C0123ABCD"

[[alerts.routes]]
channels = ["hook"]
min_priority = "high"

[dashboard]
address = "localhost"
timezone = "UTC"

[reports.email]
host = "smtp.example.com"
password = "{SECRETS['smtp_password']}"
sender = "repmon@example.com"
to = ["team@example.com"]
'''


@st.composite
def mangled_toml(draw: Any) -> bytes:
    """The config file with characters deleted, inserted or replaced, cut short, or in another encoding."""
    text = draw(st.sampled_from([toml_text(), open(os.path.join(os.path.dirname(__file__), "..",
                                                                "config.example.toml"), encoding="utf-8").read()]))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = draw(st.one_of(st.sampled_from(['"', "'", "[", "]", "=", "\n", "#", "\\", "\x00", "{", "}", ",", ".",
                                               '"""', "[[", "\ufeff", "é", "😡", "\r", "\t", "1e999", "nan", "inf",
                                               "\nx = " + "[" * 2000 + "]" * 2000 + "\n"]),
                               st.text(max_size=8)))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        elif op == "insert":
            text = text[:at] + piece + text[at:]
        else:
            text = text[:at] + piece + text[at + len(piece):]
    if draw(st.integers(0, 5)) == 0:
        text = text[:draw(st.integers(0, len(text)))]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1", "cp1252"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.integers(0, 6)) == 0:
        data += draw(st.binary(min_size=1, max_size=20))
    return data


@FUZZ
@example(data=toml_text().encode("utf-16"))  # not UTF-8
@example(data=b"x = " + b"[" * 3000 + b"]" * 3000)  # RecursionError in tomllib
@given(data=mangled_toml())
def test_config_file_gives_a_config_or_a_config_error(tmp_path, monkeypatch, data):
    monkeypatch.setenv("X_BEARER_TOKEN", SECRETS["x_bearer"])
    for var in ("REPMON_CONFIG", "REPMON_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "repmon.toml"
    path.write_bytes(data)
    try:
        config.load(str(path))
    except ConfigError as exc:
        message = str(exc)
        note(message)
        # Which file, and where in it (TOML syntax) or which key (values).
        assert str(path) in message, message
        assert_no_secret(message)


# -- import files (collectors/file_import.py) -------------------------------------------------------


# The collectors' fuzz fixtures (a migrated database per test, one TLS context) and checks, here too.
template_db, db, one_tls_context = fc.template_db, fc.db, fc.one_tls_context
assert_sane, captured, fresh = fc.assert_sane, fc.captured, fc.fresh

IMPORT_COLUMNS = {"native_id": "id", "text": "message", "created_at": "date", "author": "user", "url": "link",
                  "lang": "language", "rating": "stars", "author_reach": "followers", "kind": "type"}
GOOD_WORDS = st.sampled_from(["billed me twice 😡", "خط از دیشب قطع است", "fixed it fast 👍", "line one\nline two, quoted",
                              'said "never again"', "ok", "  spaced  ", "tab\tinside"])
DATES = st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(timezone.utc))
BAD_EPOCHS = st.sampled_from([-62135596801, 10**20, 1e308, 253402300800, -1e15, 2**63])  # seconds no calendar has
BAD_DATES = st.sampled_from(["", " ", "not a date", "2024-13-45", "31/12/2024", "1e999", "9" * 30, "-5", "NaN",
                             "0000-00-00", "2024-05-01T25:00:00", "99999999999999999999", "Mon, 99 Foo 2026"])


@st.composite
def import_rows(draw: Any, as_json: bool) -> tuple[list[dict], set[str]]:
    """Rows with the file's column names: good ones (id good-N) and fuzzed ones (id bad-N, or none)."""
    rows, good = [], set()
    for n in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            rows.append({"id": f"good-{n}", "message": f"Tidewell {draw(GOOD_WORDS)}",
                         "date": draw(DATES).isoformat(), "user": draw(st.sampled_from(["@ana", "", "سارا"])),
                         "link": draw(st.sampled_from(["", "https://x.example/1"])),
                         "language": draw(st.sampled_from(["", "en", "fa", "pt-BR"])),
                         "stars": draw(st.sampled_from(["", "1", "5", "3.0"])),
                         "followers": draw(st.sampled_from(["", "0", "1,200", "15"])), "type": ""})
            good.add(f"good-{n}")
            continue
        junk = JUNK if as_json else ODD_TEXT
        row = {"id": draw(st.sampled_from([f"bad-{n}", "", f"bad-{n}" + "x" * 300])),
               "message": draw(st.one_of(junk, st.just("Tidewell " + "жабв где 😡 " * 3000))),
               "date": draw(st.one_of(BAD_DATES, DATES.map(lambda d: d.isoformat()), junk, BAD_EPOCHS)),
               "user": draw(junk), "link": draw(junk), "language": draw(junk), "stars": draw(junk),
               "followers": draw(junk), "type": draw(st.one_of(junk, st.sampled_from(["post", "comment", "tweet"])))}
        for key in draw(st.lists(st.sampled_from(list(row)), max_size=2)):
            row.pop(key, None)  # missing columns (JSONL) / short rows (CSV)
        rows.append(row)
    return rows, good


@st.composite
def import_file(draw: Any) -> tuple[str, bytes, str, set[str], bool]:
    """(file name, bytes, the encoding the source is set to, good ids, whether the file is well-formed)."""
    as_json = draw(st.booleans())
    rows, good = draw(import_rows(as_json))
    intact = True
    if as_json:
        lines = [json.dumps(r, ensure_ascii=draw(st.booleans()), allow_nan=True) for r in rows]
        for _ in range(draw(st.integers(0, 3))):  # lines that are no JSON object
            lines.insert(draw(st.integers(0, len(lines))),
                         draw(st.sampled_from(["", "   ", "[1, 2]", "null", "{\"message\": ", "not json", "\"str\"", "{}"])))
        text = "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))
    else:
        out = io.StringIO()
        header = list(IMPORT_COLUMNS.values())
        writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\r\n", "\n"])))
        writer.writerow(header)
        for r in rows:
            cells = [r.get(col, "") for col in header]
            if set(r) != set(header) and r.get("id", "").startswith("bad"):
                cells = cells[:draw(st.integers(1, len(header)))]  # a short row
            writer.writerow(["" if c is None else str(c) for c in cells])
        text = out.getvalue()
        if draw(st.integers(0, 4)) == 0:  # a raw broken line: an unbalanced quote swallows what follows
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(['"', '\n"abc', "\x00", ",,,,,,,,,,,,,,\n"])) + text[at:]
            intact = False
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]))
    declared = encoding if draw(st.integers(0, 3)) else draw(st.sampled_from(
        ["utf-8-sig", "utf-8", "latin-1", "utf-16", "rot13", "base64", "no-such-codec", ""]))
    data = text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf-8") else "replace")
    if draw(st.integers(0, 6)) == 0:  # a stray undecodable byte
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xff\xfe\x80" + data[at:]
        intact = False
    same = declared == encoding or (declared, encoding) == ("utf-8-sig", "utf-8")  # a BOM is only read as one by -sig
    lossless = all(_encodable(ch, encoding) for ch in set(text))
    return ("export.jsonl" if as_json else "export.csv"), data, declared, good, intact and same and lossless


def _encodable(ch: str, encoding: str) -> bool:
    try:
        ch.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


@FUZZ
@example(case=("export.jsonl", '{"id": 1}\n'.encode("utf-16-le"), "utf-16", set(), False), page_size=1)  # no BOM
@example(case=("export.jsonl", b'{"message": "Tidewell", "date": 1e308, "followers": "inf"}\n'
               b'{"message": "Tidewell", "date": "0001-01-01T00:00:00+05:00", "stars": "-inf"}\n', "utf-8", set(), True),
         page_size=1000)
@example(case=("export.csv", b"id,message,date\n1,Tidewell,2026-11-20\n2,Tidewell \xff,2026-11-20\n", "utf-8", set(), False),
         page_size=1)
@example(case=("export.csv", b"id,message,date\n1,Tidewell,2026-11-20\n2,Tidewell " + b"x" * 140_000 + b",2026-11-20\n",
               "utf-8", set(), False), page_size=1)  # a field over the csv module's limit
@given(case=import_file(), page_size=st.sampled_from([1, 3, 1000]))
def test_import_files_store_good_rows_and_name_file_and_line_for_bad_ones(db, tmp_path, case, page_size):
    name, data, encoding, good, intact = case
    path = tmp_path / name
    path.write_bytes(data)
    note(f"{name} as {encoding}: {data[:2000]!r}")
    fresh(db)
    cfg = config.parse({"database": {"url": db}, "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                        "sources": {"imp": {"kind": "file_import", "path": str(path), "columns": IMPORT_COLUMNS,
                                            "encoding": encoding, "page_size": page_size, "match_brand": False}}},
                       "fuzz")
    with captured() as logs_:
        [result] = pipeline.collect(cfg, only="imp", retries=0)
    if result.error and "sources.imp.encoding" in result.error:  # not an encoding at all: the key is named
        return
    with store.session(db) as s:
        rows = s.exec(select(Mention)).all()
    assert_sane(result, rows, logs_)
    if result.error:
        assert str(path) in result.error, result.error  # a clear error names the file...
        if "not readable as" in result.error or "broken CSV" in result.error:
            assert re.search(r"line \d+", result.error), result.error  # ...and the line
    for record in logs_.records:
        if record.name == "collectors.file_import" and "skipped" in record.getMessage():
            assert str(path) in record.getMessage() and re.search(r"line \d+", record.getMessage()), record.getMessage()
    event("good rows checked" if intact and not result.error else "file refused" if result.error else "file damaged")
    if intact and not result.error:
        stored = {m.native_id for m in rows}
        assert good <= stored, (good - stored, logs_.text()[-3000:])


# -- scoring: the JSONL contract and the scorers ------------------------------------------------------


SCORERS = {name: get_scorer(name) for name in ("triage", "rules", "vader")}
LABELS, PRIORITIES = {"negative", "neutral", "positive"}, {"critical", "high", "medium", "low"}

# Posts: ordinary ones, and the text no one expects (empty, emoji only, right-to-left, zero-width,
# control characters, markup, 100 KB; lone surrogates are left to the JSONL test).
POST_TEXT = st.one_of(
    st.text(max_size=200),
    st.text(st.characters(categories=["So", "Sk", "Cf", "Mn", "Me", "Zs"]), max_size=30),  # emoji, marks, zero-width
    st.text(st.characters(min_codepoint=0x0590, max_codepoint=0x08FF), max_size=60),  # Hebrew, Arabic, Syriac...
    st.sampled_from(["", " ", "\n\n", "😡", "😡😡😡👎", "\u200b\u200c\u200d\ufeff", "\u202eTidewell sucks\u202c",
                     "خدمة Tidewell سيئة جدا 👎", "שירות גרוע", "Tidewell!!!???...", "&amp;&lt;script&gt;", "@@@@ ####",
                     "http://x.example " * 20, ":) :( :'( <3", "NOT GOOD. not bad. never again?", "\x00\x01\x02",
                     "ǅ ﬁ ẞ İ ı", "a" * 5000]),
    st.integers(1, 4).map(lambda n: ("Tidewell dropped my calls again, still waiting 😡 " * 2000)[: n * 25_000]),
)


def assert_assessment(a: Assessment, post_id: str) -> None:
    assert a.id == post_id
    assert a.label in LABELS and a.priority in PRIORITIES and a.category in CATEGORIES, a
    assert isinstance(a.sentiment, float) and math.isfinite(a.sentiment) and -1 <= a.sentiment <= 1, a
    assert isinstance(a.needs_response, bool) and isinstance(a.lang, str) and a.lang
    assert all(isinstance(r, str) for r in a.reasons)
    json.dumps(a.as_dict(), ensure_ascii=False).encode("utf-8")


@FUZZ
@given(texts=st.lists(POST_TEXT, min_size=1, max_size=4), lang=st.sampled_from([None, "en", "fa", "ar", "he", "xx", "pt-BR"]),
       rating=st.sampled_from([None, 1, 3, 5]), reach=st.sampled_from([0, 10**12]),
       platform=st.sampled_from([None, "x", "rss", "app_store", ""]), own=st.booleans(),
       terms=st.lists(st.text(max_size=10), max_size=3))
def test_scorers_never_fail_on_any_text(texts, lang, rating, reach, platform, own, terms):
    posts = [Post(id=str(i), text=t, lang=lang, rating=rating, author_reach=reach, platform=platform, is_own=own,
                  brand_terms=tuple(terms), competitor_terms=("Orbitel",)) for i, t in enumerate(texts)]
    for name, scorer in SCORERS.items():
        out = scorer.score(posts)
        assert len(out) == len(posts), name
        for post, a in zip(posts, out):
            assert_assessment(a, post.id)


VALID_LINE = {"id": "p1", "text": "Tidewell lost my parcel 😡", "lang": "en", "author": "@ana", "author_reach": 120,
              "rating": 2, "platform": "app_store", "is_own": False, "brand_terms": ["Tidewell"], "competitor_terms": []}


@st.composite
def jsonl_line(draw: Any) -> str:
    if draw(st.integers(0, 4)) == 0:  # not a line of the contract at all
        return draw(st.one_of(st.text(max_size=30), st.sampled_from(
            ["[1, 2]", "null", "{", "{\"id\": 1, \"text\": \"x\"", "\"text\"", "{}", "NaN", "{\"id\": 1, \"text\": \"ok\"}"])))
    obj = dict(VALID_LINE, id=draw(st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=10))))
    for key in draw(st.lists(st.sampled_from(list(VALID_LINE)), max_size=3)):
        if draw(st.booleans()):
            obj.pop(key, None)
        else:
            obj[key] = draw(st.one_of(JUNK, POST_TEXT, st.sampled_from(["\ud83d", "Tidewell \ud800 x", "a" * 300, 1e308,
                                                                        float("nan"), 0, 6, -1, 2.5])))
    return json.dumps(obj, ensure_ascii=draw(st.booleans()), allow_nan=True)


@FUZZ
@example(lines=['{"id": 1, "text": "x", "author_reach": NaN}'], scorer="rules", raw=b"")  # found by fuzzing
@example(lines=['{"id": 1, "text": "x", "rating": Infinity}'], scorer="triage", raw=b"")
@example(lines=['{"id": 1, "text": "x", "platform": 5}'], scorer="rules", raw=b"")
@example(lines=['{"id": "\\ud83d", "text": "x"}'], scorer="vader", raw=b"")
@example(lines=['{"id": 1, "text": "x", "lang": "' + "a" * 300 + '"}'], scorer="rules", raw=b"")
@example(lines=["0"], scorer="vader", raw=b"\xff\xfe")  # both lines bad: the first is named
@given(lines=st.lists(jsonl_line(), min_size=1, max_size=6), scorer=st.sampled_from(list(SCORERS)),
       raw=st.sampled_from([b"", b"", b"\xff\xfe", b"\xc3", b"\xef\xbb\xbf"]))
def test_jsonl_lines_give_assessments_or_an_error_naming_the_line(tmp_path, lines, scorer, raw):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    data = [line.encode("utf-8", "surrogatepass") for line in lines]
    bad_bytes_at = None
    if raw and raw != b"\xef\xbb\xbf":
        bad_bytes_at = len(data)
        data.append(b'{"id": 9, "text": "' + raw + b'"}')  # undecodable bytes on the last line
    inp.write_bytes((raw if raw == b"\xef\xbb\xbf" else b"") + b"\n".join(data) + b"\n")
    note(inp.read_bytes()[:2000])
    # What each line must give on its own: a ValueError naming it, or a Post the scorer assesses.
    expected_error = None
    posts = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw_id, post = parse_line(line, str(inp), number)
        except ValueError as exc:
            assert str(exc).startswith(f"{inp} line {number}: "), str(exc)
            expected_error = expected_error or number
            continue
        [a] = SCORERS[scorer].score([post])
        assert_assessment(a, post.id)
        posts.append(raw_id)
    if expected_error is None and bad_bytes_at is not None:
        expected_error = bad_bytes_at + 1
    try:
        n = score_jsonl(str(inp), str(out), SCORERS[scorer], batch_size=2)
    except ValueError as exc:
        assert expected_error is not None and str(exc).startswith(f"{inp} line {expected_error}: "), (str(exc), expected_error)
        return
    assert expected_error is None, f"line {expected_error} should have been refused"
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert n == len(got) == len(posts) and [g["id"] for g in got] == posts


# -- the daemon: a source answering garbage, a source configured wrong --------------------------------


HTML_PAGES, hn_page = fc.HTML_PAGES, fc.hn_page


def _job_logs(handler) -> str:
    return "\n".join(r.getMessage() + (f"\n{r.exc_text}" if r.exc_text else "") for r in handler.records)


def test_collect_job_survives_a_garbage_answer_and_the_next_run_proceeds(db, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline.time, "sleep", lambda seconds: None)  # the job's own retries of the garbage
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps({"text": "Tidewell billed me twice", "created_at": "2026-11-20T10:00:00Z"}) + "\n")
    cfg = config.parse({"database": {"url": fresh(db)}, "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                        "sources": {"hn": {"kind": "hackernews", "queries": ["tidewell"]},
                                    "imp": {"kind": "file_import", "path": str(export)}}}, "fuzz")
    job = scheduler.build(cfg).get_job("collect").func  # the job as the daemon runs it (logged, never raising)
    answers = [httpx.Response(200, content=HTML_PAGES[0], headers={"Content-Type": "text/html"}),
               httpx.Response(200, content=b'{"hits": [{"objectID": 1, "created_at_i": "soon"}], "nbHits": "many"}'),
               httpx.Response(200, json=hn_page())]
    with respx.mock(assert_all_called=False) as api:
        api.get(ht.SEARCH).mock(side_effect=lambda request: answers[0])
        with captured() as first:
            job()  # garbage from Hacker News: the run logs it, stores the other source, and returns
        answers.pop(0)
        with captured() as second:
            job()  # a page with a malformed hit
        answers.pop(0)
        with captured() as third:
            job()  # and Hacker News is fine again
    text = _job_logs(first)
    assert "job=collect result=" in text and "job=collect failed" not in text and "collector crashed" not in text
    assert re.search(r"source=hn failed: hackernews search 'tidewell': the API sent malformed JSON", text), text
    assert "job=collect result=" in _job_logs(second) and "collector crashed" not in _job_logs(second)
    assert "job=collect result=" in _job_logs(third) and "source=hn failed" not in _job_logs(third)
    with store.session(db) as s:
        stored = {(m.source, m.native_id) for m in s.exec(select(Mention)).all()}
        health = {r.name: r for r in s.exec(select(pipeline.Source)).all()}
    assert ("imp", next(n for src, n in stored if src == "imp")) in stored
    assert {n for src, n in stored if src == "hn"} >= {"41000001", "41000002"}
    assert health["hn"].last_error and "malformed JSON" in health["hn"].last_error  # the failure is on record
    assert health["hn"].failing_since is None and health["hn"].last_success_at is not None  # and it recovered


@FUZZ
@given(key=st.sampled_from(["page_size", "lag_seconds", "queries", "timeout", "match_brand", "no_such_option"]),
       value=JUNK.filter(lambda v: "${" not in str(v)))  # an unset ${VAR} is refused when the config loads
def test_a_misconfigured_source_fails_alone(db, tmp_path, key, value):
    """Source options are validated when the source runs; one that is wrong is that source's error,
    named by key, and the other sources are collected."""
    export = tmp_path / "export.jsonl"
    export.write_text(json.dumps({"text": "Tidewell billed me twice", "created_at": "2026-11-20T10:00:00Z"}) + "\n")
    cfg = config.parse({"database": {"url": fresh(db)}, "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                        "sources": {"hn": {"kind": "hackernews", key: value},
                                    "imp": {"kind": "file_import", "path": str(export)}}}, "fuzz")
    with respx.mock(assert_all_called=False) as api:
        api.get(ht.SEARCH).mock(return_value=httpx.Response(200, json={"hits": [], "nbHits": 0, "nbPages": 0}))
        results = {r.source: r for r in pipeline.collect(cfg, retries=0)}
    assert results["imp"].error is None and results["imp"].inserted == 1
    if results["hn"].error:
        assert f"sources.hn.{key}" in results["hn"].error, results["hn"].error


# -- secrets never reach the logs or a source's recorded error ----------------------------------------


SOURCE_SECRETS = {
    "x": {"kind": "x", "bearer_token": SECRETS["x_bearer"]},
    "reddit": {"kind": "reddit", "client_id": "cid-fuzz", "client_secret": SECRETS["reddit_secret"],
               "user_agent": "server:repmon-fuzz:1.0 (by /u/repmon)", "username": "brand",
               "password": SECRETS["smtp_password"]},
    "mastodon": {"kind": "mastodon", "instance": mt.BASE, "hashtags": ["tidewell"], "access_token": SECRETS["mastodon_token"]},
    "bluesky": {"kind": "bluesky", "handle": "acme.bsky.social", "app_password": SECRETS["bluesky_password"],
                "query": "tidewell"},
    "youtube": {"kind": "youtube", "api_key": SECRETS["youtube_key"], "channel_ids": [yt.CHANNEL]},
}
ANSWERS = ["401", "403", "500", "html", "garbage", "echo"]


def _echo(method: str, url: str, headers: Any, body: Any) -> bytes:
    """What a misbehaving proxy or API sends back: the request itself."""
    lines = sorted(f"{k}: {v}" for k, v in dict(headers).items())
    lines.sort(key=lambda line: not line.lower().startswith("authorization"))  # credentials first
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return "\n".join([*lines, text, f"{method} {url}"]).encode("utf-8", "replace")


def _reply(kind: str, method: str, url: str, headers: Any, body: Any) -> tuple[int, str, bytes]:
    return {"401": (401, "application/json", b'{"error": "Unauthorized", "message": "invalid token"}'),
            "403": (403, "text/html", b"<html><h1>403 Forbidden</h1></html>"),
            "500": (500, "text/plain", b"Internal Server Error"),
            "html": (200, "text/html", HTML_PAGES[1]),
            "garbage": (200, "application/json", b'{"data": [nul'),
            "echo": (400, "application/json", b"")}[kind] if kind != "echo" else \
        (400, "application/json", _echo(method, url, headers, body))


class SecretCapture(logging.Handler):
    """The log lines as `repmon run` writes them: logs.setup's format and secret redaction."""

    def __init__(self, cfg: config.Config):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
        self.addFilter(logs.RedactSecrets(logs.secrets_of(cfg)))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("kind", list(SOURCE_SECRETS))
def test_source_credentials_never_reach_logs_or_errors(db, monkeypatch, kind, answer):
    cfg = config.parse({"database": {"url": fresh(db)}, "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                        "sources": {"src": SOURCE_SECRETS[kind]}}, "fuzz")
    monkeypatch.setattr(bluesky_mod, "_SESSIONS", {})
    monkeypatch.setattr(time_mod, "sleep", lambda seconds: None)  # prawcore's retries of a 5xx
    handler = SecretCapture(cfg)
    root = logging.getLogger()
    monkeypatch.setattr(root, "level", logging.DEBUG)
    root.addHandler(handler)
    try:
        with respx.mock(assert_all_called=False) as api, responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            def httpx_reply(request: httpx.Request) -> httpx.Response:
                status, ctype, body = _reply(answer, request.method, str(request.url), request.headers, request.content)
                return httpx.Response(status, content=body, headers={"Content-Type": ctype})

            def requests_reply(request: Any) -> tuple:
                status, ctype, body = _reply(answer, request.method, request.url, request.headers, request.body)
                return status, {"Content-Type": ctype}, body

            api.route(host__in=["mastodon.example", "bsky.social"]).mock(side_effect=httpx_reply)
            for method in (responses.GET, responses.POST):
                rsps.add_callback(method, re.compile(r"https://(api\.twitter\.com|www\.reddit\.com|oauth\.reddit\.com)/.*"),
                                  callback=requests_reply)

            class EchoTransport(yt.Transport):
                def request(self, uri, method="GET", body=None, headers=None, redirections=1, connection_type=None):
                    status, ctype, content = _reply(answer, method, uri, headers or {}, body)
                    return httplib2.Response({"status": str(status), "content-type": ctype}), content

            monkeypatch.setattr(YouTubeCollector, "_http", lambda self: EchoTransport([]))
            [result] = pipeline.collect(cfg, only="src", retries=1)
    finally:
        root.removeHandler(handler)
    with store.session(db) as s:
        last_error = s.exec(select(pipeline.Source).where(pipeline.Source.name == "src")).one().last_error or ""
    assert result.error, f"every answer here is a failure: {result}"
    assert_no_secret(result.error)
    assert_no_secret(last_error)
    assert_no_secret("\n".join(handler.lines))
