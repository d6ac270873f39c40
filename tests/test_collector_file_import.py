"""File import: CSV / JSON Lines exports, bad rows, resume, re-runs, header errors."""

import json
import logging
import os
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from collectors.file_import import FileImportCollector, parse_time
from repmon import config, pipeline, store
from repmon.config import BrandConfig
from repmon.errors import CollectorError, ConfigError
from repmon.models import Mention

BRAND = BrandConfig(name="Tidewell", keywords=["tidewell"])
COLUMNS = {"native_id": "id", "text": "message", "created_at": "date", "author": "user", "url": "link",
           "lang": "language", "rating": "stars", "author_reach": "followers"}

EXPORT = (
    "id,message,date,user,link,language,stars,followers\r\n"
    't1,"Tidewell billed me twice 😡\nSecond line, with a comma",2026-11-20T14:03:00Z,@ana,https://x.example/1,en,1,"1,200"\r\n'
    "t2,خط Tidewell از دیشب قطع است,2026-11-20 14:03:00,@sara,,fa,,\r\n"
    "t3,Tidewell fixed it fast 👍,1795183380,@bo,,en,5,10\r\n"
)


def write(tmp_path, name, text, encoding="utf-8-sig"):
    p = tmp_path / name
    p.write_text(text, encoding=encoding, newline="")
    return p


def make(path, **opts):
    return FileImportCollector.from_config("imp", {"kind": "file_import", "path": str(path), **opts}, BRAND)


def run(collector, cursor=None):
    return list(collector.fetch(cursor))


def test_csv_with_bom_emoji_rtl_and_quoted_newlines(tmp_path):
    path = write(tmp_path, "export.csv", EXPORT)  # utf-8-sig: starts with a BOM
    (batch,) = run(make(path, columns=COLUMNS, timezone="Asia/Tehran"))
    a, b, c = batch.mentions
    assert batch.notes["skipped"] == 0
    assert a["native_id"] == "t1" and a["platform"] == "import" and a["author"] == "@ana"
    assert a["text"] == "Tidewell billed me twice 😡\nSecond line, with a comma"
    assert a["created_at"] == datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)
    assert a["url"] == "https://x.example/1" and a["lang"] == "en" and a["rating"] == 1 and a["author_reach"] == 1200
    assert b["text"] == "خط Tidewell از دیشب قطع است" and b["lang"] == "fa" and b["rating"] is None
    assert b["created_at"] == datetime(2026, 11, 20, 10, 33, tzinfo=timezone.utc)  # naive: Tehran time
    assert c["created_at"] == datetime.fromtimestamp(1795183380, timezone.utc) and c["rating"] == 5
    assert a["raw"]["collector"] == "file_import" and a["raw"]["row"] == "line 2" and c["raw"]["row"] == "line 5"
    assert a["raw"]["item"]["message"].startswith("Tidewell") and json.dumps(a["raw"])


def test_jsonl_with_nested_keys_and_default_columns(tmp_path):
    lines = [
        {"id": 1, "text": "Tidewell app crashed 🙃", "created_at": "2026-11-20T14:03:00+01:00", "user": {"name": "kim", "followers": 50}},
        {"id": 2, "text": "رفع مشکل Tidewell", "created_at": 1795183380000, "user": {"name": "ali", "followers": 7}},
    ]
    path = write(tmp_path, "export.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    (batch,) = run(make(path, platform="brandwatch", columns={"native_id": "id", "author": "user.name",
                                                                "author_reach": "user.followers"}))
    a, b = batch.mentions
    assert (a["native_id"], a["author"], a["author_reach"], a["platform"]) == ("1", "kim", 50, "brandwatch")
    assert a["created_at"] == datetime(2026, 11, 20, 13, 3, tzinfo=timezone.utc)
    assert b["text"] == "رفع مشکل Tidewell" and b["created_at"] == datetime.fromtimestamp(1795183380, timezone.utc)


def test_bad_rows_are_skipped_logged_and_counted(tmp_path, caplog):
    path = write(tmp_path, "bad.csv",
                 "message,date,stars\n"
                 "Tidewell ok,2026-11-20 10:00:00,4\n"
                 ",2026-11-20 10:00:00,\n"             # line 3: no text
                 "Tidewell when?,next tuesday,\n"      # line 4: no date
                 "Tidewell stars,2026-11-20,11\n"      # line 5: rating out of range
                 "Tidewell,2026-11-20,3,extra\n"       # line 6: too many fields
                 "\n"                                  # line 7: blank, ignored
                 "Tidewell fine too,20/11/2026 10:00,\n")  # line 8: ambiguous day/month
    with caplog.at_level(logging.WARNING, logger="collectors.file_import"):
        (batch,) = run(make(path, columns={"text": "message", "created_at": "date", "rating": "stars"}))
    assert [m["text"] for m in batch.mentions] == ["Tidewell ok"]
    assert batch.notes["skipped"] == 5
    logged = caplog.text
    for line in (3, 4, 5, 6, 8):
        assert f"line {line} skipped" in logged
    assert "set date_format" in logged


def test_date_format_option(tmp_path):
    path = write(tmp_path, "d.csv", "text,created_at\nTidewell,20/11/2026 10:00\n")
    (batch,) = run(make(path, date_format="%d/%m/%Y %H:%M", timezone="Europe/Bucharest"))
    assert batch.mentions[0]["created_at"] == datetime(2026, 11, 20, 8, tzinfo=timezone.utc)


def test_pages_resume_and_rerun_adds_nothing(tmp_path):
    rows = "".join(f"Tidewell post {i},2026-11-20T10:0{i}:00Z\n" for i in range(5))
    path = write(tmp_path, "p.csv", "text,created_at\n" + rows)
    batches = run(make(path, page_size=2))
    assert [len(b.mentions) for b in batches] == [2, 2, 1]
    states = [json.loads(b.cursor)["files"][str(path.resolve())] for b in batches]
    assert [(s["rows"], s["done"]) for s in states] == [(2, False), (4, False), (5, True)]

    # Resume after the first page was stored: only the rows after it come back.
    resumed = run(make(path, page_size=2), batches[0].cursor)
    assert [m["text"] for b in resumed for m in b.mentions] == [f"Tidewell post {i}" for i in (2, 3, 4)]
    # A finished file is skipped.
    assert run(make(path, page_size=2), batches[-1].cursor) == []
    # The default native_id is a stable hash: the same rows get the same ids.
    assert [m["native_id"] for m in resumed[0].mentions] == [m["native_id"] for m in batches[1].mentions]
    assert len({m["native_id"] for b in batches for m in b.mentions}) == 5


def test_a_changed_file_is_read_again_and_new_files_join(tmp_path):
    a = write(tmp_path, "a.csv", "text,created_at\nTidewell one,2026-11-20\n")
    done = run(make(tmp_path / "*.csv"))[-1].cursor
    with open(a, "a", encoding="utf-8", newline="") as fh:
        fh.write("Tidewell two,2026-11-21\n")
    write(tmp_path, "b.csv", "text,created_at\nTidewell three,2026-11-22\n")
    texts = [m["text"] for b in run(make(tmp_path / "*.csv"), done) for m in b.mentions]
    assert texts == ["Tidewell one", "Tidewell two", "Tidewell three"]


def test_exactly_a_page_ends_with_an_empty_done_page(tmp_path):
    path = write(tmp_path, "e.csv", "text,created_at\nTidewell a,2026-11-20\nTidewell b,2026-11-20\n")
    batches = run(make(path, page_size=2))
    assert [len(b.mentions) for b in batches] == [2, 0]
    assert json.loads(batches[-1].cursor)["files"][str(path.resolve())]["done"] is True


def test_empty_file_is_done(tmp_path):
    path = write(tmp_path, "empty.csv", "", encoding="utf-8")
    (batch,) = run(make(path))
    assert batch.mentions == [] and json.loads(batch.cursor)["files"][str(path.resolve())]["done"]


@pytest.mark.parametrize("name, body, columns, missing", [
    ("h.csv", "message,when\nx,2026-11-20\n", {"text": "message", "created_at": "date"}, "'date' (sources.imp.columns.created_at)"),
    ("h.csv", "body,date\nx,2026-11-20\n", {}, "'text' (sources.imp.columns.text)"),
    ("h.csv", "text,created_at\nx,2026-11-20\n", {"author": "user"}, "'user' (sources.imp.columns.author)"),
    ("h.jsonl", '{"text": "x", "created_at": "2026-11-20"}\n', {"url": "link"}, "'link' (sources.imp.columns.url)"),
])
def test_missing_mapped_column_is_a_clear_error(tmp_path, name, body, columns, missing):
    path = write(tmp_path, name, body)
    with pytest.raises(CollectorError) as exc:
        run(make(path, columns=columns))
    assert missing in str(exc.value) and str(path) in str(exc.value) and "it has:" in str(exc.value)


def test_file_and_format_problems(tmp_path):
    with pytest.raises(CollectorError, match="no file matches"):
        run(make(tmp_path / "nothing-*.csv"))
    weird = write(tmp_path, "export.txt", "text,created_at\nTidewell,2026-11-20\n")
    with pytest.raises(CollectorError, match='set format = "csv"'):
        run(make(weird))
    assert len(run(make(weird, format="csv"))[0].mentions) == 1
    latin = write(tmp_path, "latin.csv", "text,created_at\nTidewell café,2026-11-20\n", encoding="latin-1")
    with pytest.raises(CollectorError, match="not readable as utf-8-sig.*set encoding"):
        run(make(latin))
    assert run(make(latin, encoding="latin-1"))[0].mentions[0]["text"] == "Tidewell café"


@pytest.mark.parametrize("value, expected", [
    ("2026-11-20T14:03:00Z", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)),
    ("2026-11-20T16:03:00+02:00", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)),
    ("2026-11-20 14:03:00", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)),
    ("2026-11-20", datetime(2026, 11, 20, tzinfo=timezone.utc)),
    ("2026/11/20 14:03", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)),
    ("20.11.2026 14:03", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)),
    ("Fri, 20 Nov 2026 14:03:00 +0000", datetime(2026, 11, 20, 14, 3, tzinfo=timezone.utc)),
    ("1795183380", datetime.fromtimestamp(1795183380, timezone.utc)),
    (1795183380.5, datetime.fromtimestamp(1795183380.5, timezone.utc)),
    ("1795183380000", datetime.fromtimestamp(1795183380, timezone.utc)),
])
def test_parse_time(value, expected):
    assert parse_time(value) == expected


@pytest.mark.parametrize("opts, key", [
    ({"path": "x.csv", "timezone": "Mars/Olympus"}, "sources.imp.timezone"),
    ({"path": "x.csv", "columns": {"txt": "message"}}, "sources.imp.columns.txt"),
    ({"path": "x.csv", "format": "xlsx"}, "sources.imp.format"),
    ({"path": "x.csv", "page_size": 0}, "sources.imp.page_size"),
    ({}, "sources.imp.path"),
])
def test_options_errors_name_the_key(opts, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        FileImportCollector.from_config("imp", opts, BRAND)


def test_through_the_runner(tmp_path, monkeypatch):
    rows = "".join(f"t{i},Tidewell post {i} 📶,2026-11-20T10:0{i}:00Z,@u{i}\n" for i in range(5))
    path = write(tmp_path, "runner.csv", "id,message,date,user\n" + rows + "x,nothing about us,2026-11-20,@z\n")
    cfg = config.parse({"database": {"url": f"sqlite:///{tmp_path / 't.db'}"},
                        "brands": [{"name": "Tidewell", "keywords": ["tidewell"]}],
                        "sources": {"imp": {"kind": "file_import", "path": str(path), "page_size": 2,
                                            "columns": {"native_id": "id", "text": "message", "created_at": "date",
                                                        "author": "user"}}}}, "test")
    store.migrate(cfg.database.url)
    real, calls = store.upsert_mentions, []

    def flaky(s, rows, cursor=None):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("power cut")
        return real(s, rows, cursor=cursor)

    monkeypatch.setattr(store, "upsert_mentions", flaky)
    r = pipeline.collect(cfg, only="imp")[0]
    assert r.inserted == 2 and "power cut" in r.error
    monkeypatch.setattr(store, "upsert_mentions", real)

    r = pipeline.collect(cfg, only="imp")[0]
    assert r.error is None and r.inserted == 3 and r.skipped == 1  # the row not about the brand
    r = pipeline.collect(cfg, only="imp")[0]
    assert r.error is None and r.inserted == 0 and r.pages == 0
    os.utime(path, ns=(0, 0))  # touched: read again, nothing new
    r = pipeline.collect(cfg, only="imp")[0]
    assert r.error is None and r.inserted == 0 and r.updated == 0
    with store.session(cfg.database.url) as s:
        got = s.exec(select(Mention).where(Mention.source == "imp")).all()
    assert sorted(m.native_id for m in got) == ["t0", "t1", "t2", "t3", "t4"]
    assert all(m.text.endswith("📶") for m in got)
