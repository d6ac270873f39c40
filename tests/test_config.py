from pathlib import Path

import pytest

from repmon import config
from repmon.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"


def test_example_config_is_valid_and_documents_every_key():
    cfg = config.load(str(EXAMPLE))
    assert cfg.brands[0].competitors == ["Orbitel", "Skyfern"]
    text = EXAMPLE.read_text()

    def keys(model, prefix=""):
        for name, field in model.model_fields.items():
            if name == "path":
                continue
            sub = getattr(field.annotation, "model_fields", None)
            yield name
            if sub:
                yield from keys(field.annotation)

    missing = [k for k in keys(config.Config) if f"{k} =" not in text and f"[{k}" not in text and f".{k}]" not in text
               and f"{k}]" not in text]
    assert missing == [], f"config.example.toml does not document: {missing}"


def test_no_file_means_builtin_demo_defaults():
    cfg = config.load()
    assert cfg.path is None
    assert "demo" in cfg.sources and cfg.database.url.startswith("sqlite")
    assert cfg.brands[0].name


def test_discovery_order(tmp_path, monkeypatch):
    (tmp_path / "repmon.toml").write_text('[dashboard]\nport = 9001\n')
    assert config.load().dashboard.port == 9001
    other = tmp_path / "other.toml"
    other.write_text('[dashboard]\nport = 9002\n')
    monkeypatch.setenv("REPMON_CONFIG", str(other))
    assert config.load().dashboard.port == 9002
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[dashboard]\nport = 9003\n')
    assert config.load(str(explicit)).dashboard.port == 9003


@pytest.mark.parametrize(
    "toml, expected",
    [
        ('[databse]\nurl = "sqlite:///x.db"', "databse: unknown key; did you mean 'database'?"),
        ('[scheduler]\ncollect_seconds = "often"', "scheduler.collect_seconds: Input should be a valid integer"),
        ('[scheduler]\ncollect_seconds = 0', "scheduler.collect_seconds: Input should be greater than or equal to 1"),
        ('[alerts]\nmin_priority = "urgent"', "alerts.min_priority: Input should be 'critical', 'high', 'medium' or 'low'"),
        ('[database]\nurl = "mysql://x"', "database.url: expected a sqlite:/// or postgresql+psycopg:// URL"),
        ('[dashboard]\ntimezone = "Mars/Olympus"', "dashboard.timezone: expected an IANA time zone"),
        ('[[brands]]\nkeywords = ["x"]', "brands[0].name: required key is missing"),
        ('[[alerts.slack]]\nname = "x"\nwebhok_url = "y"', "alerts.slack[0].webhok_url: unknown key; did you mean 'webhook_url'?"),
        ('[sources.x]\nkind = "demo"\nbrand = "Nobody"', "sources.x.brand: unknown brand 'Nobody'"),
        ('[scoring\n', "not valid TOML"),
    ],
)
def test_errors_name_the_key_and_what_is_expected(tmp_path, toml, expected):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as err:
        config.load(str(path))
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_secrets_come_from_env(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[[alerts.slack]]\nname = "oncall"\nwebhook_url = "${SLACK_WEBHOOK_URL}"\n')
    with pytest.raises(ConfigError, match=r"alerts.slack\[0\].webhook_url: environment variable SLACK_WEBHOOK_URL is not set"):
        config.load(str(path))
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example/T000/B000/XXXX")
    assert config.load(str(path)).alerts.slack[0].webhook_url == "https://hooks.example/T000/B000/XXXX"


def test_secrets_are_redacted_from_tracebacks_in_the_log(tmp_path, monkeypatch, capfd):
    import logging

    from repmon import logs

    secret = "xoxb-not-a-real-token-1234"
    monkeypatch.setenv("SLACK_BOT_TOKEN", secret)
    path = tmp_path / "c.toml"
    path.write_text('[[alerts.slack]]\nname = "oncall"\nchannel = "C0ALERTS1"\nbot_token = "${SLACK_BOT_TOKEN}"\n')
    logs.setup(config.load(str(path)))
    try:
        try:
            raise RuntimeError(f"auth failed for {secret}")
        except RuntimeError:
            logging.getLogger("repmon.test").exception("dispatch failed")
        logging.getLogger("repmon.test").warning("where", stack_info=True)
    finally:
        logging.getLogger().handlers[:] = []
    err = capfd.readouterr().err
    assert "RuntimeError: auth failed for ***" in err and "Traceback" in err
    assert secret not in err


def test_database_url_env_overrides(monkeypatch):
    monkeypatch.setenv("REPMON_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert config.load().database.url == "postgresql+psycopg://u@h/db"


def test_missing_explicit_file_is_a_clear_error():
    with pytest.raises(ConfigError, match="--config nope.toml: no such file"):
        config.load("nope.toml")


def test_every_commented_source_example_validates(monkeypatch):
    """Uncommented, each [sources.*] example in config.example.toml is a working section."""
    import re
    import tomllib

    from collectors import collector_class

    tail = EXAMPLE.read_text().split("# More sources")[1].split("\n", 2)[2]
    code = "\n".join(line[2:] for line in tail.splitlines() if line.startswith("# ") and not line.startswith("# ---"))
    for var in re.findall(r"\$\{(\w+)\}", code):
        monkeypatch.setenv(var, f"example-{var.lower()}")
    sources = tomllib.loads(code)["sources"]
    kinds = {src["kind"] for src in sources.values()}
    assert kinds == {"x", "reddit", "google_play", "app_store", "hackernews", "bluesky", "mastodon", "rss",
                     "youtube", "file_import"}
    cfg = config.parse({"sources": sources}, "example")
    for name, src in cfg.sources.items():
        collector_class(src.kind).from_config(name, src.model_dump(), cfg.brand(src.brand))


def test_templates_dir_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="replies.templates_dir: .*no folder at"):
        config.parse({"replies": {"templates_dir": str(tmp_path / "nope")}}, "test")
    assert config.parse({"replies": {"templates_dir": str(tmp_path)}}, "test").replies.templates_dir == str(tmp_path)
