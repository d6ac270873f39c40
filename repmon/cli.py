"""The `repmon` command. Commands parse options and call the same functions the scheduler does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Optional

import click

from repmon import config as config_mod
from repmon import logs, store
from repmon.errors import RepmonError

HELP = """Monitor what people say about your brand, flag the posts that need an answer,
and suggest a reply that follows the playbook.

\b
Start here (no API keys needed, everything offline):
  repmon up              load the demo data, score it, open cases, serve the dashboard
\b
Config is read from --config, $REPMON_CONFIG, or ./repmon.toml; without one the built-in
demo settings are used. See config.example.toml for every key.
"""


class Ctx:
    def __init__(self, config_path: Optional[str], verbose: bool):
        self.config_path, self.verbose = config_path, verbose
        self._cfg: Optional[config_mod.Config] = None

    @property
    def cfg(self) -> config_mod.Config:
        if self._cfg is None:
            self._cfg = config_mod.load(self.config_path)
            logs.setup(self._cfg, self.verbose)
        return self._cfg

    def ready(self) -> config_mod.Config:
        """Config loaded and the database migrated to the current schema."""
        cfg = self.cfg
        store.migrate(cfg.database.url)
        return cfg


pass_ctx = click.make_pass_decorator(Ctx)


def say(msg: str) -> None:
    click.echo(msg, err=True)


class Group(click.Group):
    """Turns RepmonError into one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except RepmonError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=Group, help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100, "terminal_width": 100})
@click.option("--config", "config_path", metavar="PATH", help="Config file (default: $REPMON_CONFIG or ./repmon.toml).")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@click.version_option(package_name="repmon")
@click.pass_context
def main(ctx: click.Context, config_path: Optional[str], verbose: bool) -> None:
    ctx.obj = Ctx(config_path, verbose)


@main.command()
@click.option("--reset", is_flag=True, help="Replay from the start (still adds no duplicates).")
@pass_ctx
def demo(c: Ctx, reset: bool) -> None:
    """Load the built-in demo data into the store, score it and open cases."""
    from repmon import cases, demo_team, pipeline
    from repmon.config import SourceConfig

    cfg = c.ready()
    if "demo" not in cfg.sources:
        cfg.sources["demo"] = SourceConfig(kind="demo")
    if reset:
        with store.session(cfg.database.url) as s:
            store.save_cursor(s, "demo", "")
    results = pipeline.collect(cfg, only="demo", progress=say)
    r = results[0]
    if r.error:
        raise RepmonError(f"demo load failed: {r.error}")
    scored = pipeline.score_pending(cfg, progress=say)
    placed = cases.update_cases(cfg, progress=say)
    worked = demo_team.work_backlog(cfg.database.url)
    click.echo(f"demo: {r.inserted} new mentions ({r.updated} updated), {scored} scored, "
               f"{placed} flagged posts placed in cases, {worked} older cases worked by the demo team. "
               "Next: repmon dashboard")


@main.command()
@click.option("--source", metavar="NAME", help="Only this source (see `repmon sources`).")
@pass_ctx
def collect(c: Ctx, source: Optional[str]) -> None:
    """Fetch new mentions from every enabled source, once."""
    from repmon import pipeline

    cfg = c.ready()
    results = pipeline.collect(cfg, only=source, progress=say)
    for r in results:
        status = f"error: {r.error}" if r.error else "ok"
        click.echo(f"{r.source}: {r.inserted} new, {r.updated} updated, {r.pages} pages, {status}")
    if not results:
        click.echo("no enabled sources: add one under [sources] in the config (see config.example.toml)")
    if any(r.error for r in results):
        sys.exit(1)


@main.command()
@pass_ctx
def process(c: Ctx) -> None:
    """Score mentions that have no score yet; open or update their cases."""
    from repmon import cases, pipeline

    cfg = c.ready()
    scored = pipeline.score_pending(cfg, progress=say)
    placed = cases.update_cases(cfg, progress=say)
    click.echo(f"{scored} mentions scored, {placed} flagged posts placed in cases")


@main.command()
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="JSON lines: {id, text[, lang, author, rating, platform]}.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Where to write one JSON result per input line.")
@click.option("--scorer", default="triage", show_default=True, type=click.Choice(["triage", "rules", "vader"]),
              help="triage: lexicons + the shipped model; rules: lexicons only; vader: the baseline.")
@click.option("--bias", type=float, default=0.0, show_default=True,
              help="triage only: > 0 flags more posts as needing a response, < 0 fewer.")
def score(input_path: str, output_path: str, scorer: str, bias: float) -> None:
    """Score a JSONL file of posts; needs no database or network.

    Each output line is {id, lang, sentiment, label, needs_response, priority, category, reasons}.
    The triage scorer uses the shipped model here, not a model trained with `repmon train`.
    """
    from scoring import get_scorer
    from scoring.jsonl import score_jsonl

    try:
        n = score_jsonl(input_path, output_path,
                        get_scorer(scorer, negative_bias=bias) if scorer == "triage" else get_scorer(scorer))
    except (ValueError, KeyError) as exc:
        raise RepmonError(str(exc).strip("'\"")) from None
    click.echo(f"scored {n} posts -> {output_path}", err=True)


@main.command()
@click.option("--rollback", is_flag=True, help="Go back to the model trained before the active one.")
@click.option("--list", "list_", is_flag=True, help="List trained models and their held-out scores.")
@click.option("--force", is_flag=True, help="Activate the new model even if it scores worse on held-out labels.")
@click.option("--min-labels", default=20, show_default=True, help="Refuse to train on fewer labelled posts.")
@pass_ctx
def train(c: Ctx, rollback: bool, list_: bool, force: bool, min_labels: int) -> None:
    """Fit this deployment's scoring model on the team's feedback.

    Agents mark posts in the dashboard as "needed a response", "didn't need one" or "wrong
    category". This fits the triage model on the shipped training posts plus those labels,
    checks it on a fifth of the labels held out, and makes it the active model only if it
    does at least as well as the current one there (use --force to override). Models are
    kept; --rollback returns to the previous one. New mentions are scored with the active
    model; scores already stored are not changed.
    """
    from repmon import learning

    cfg = c.ready()
    url = cfg.database.url
    if list_:
        rows = learning.models(url)
        if not rows:
            click.echo("no trained models; the shipped model is in use. Collect feedback, then run `repmon train`.")
        for r in rows:
            new = r.metrics.get("holdout", {}).get("new", {})
            click.echo(f"{'*' if r.active else ' '} {r.id:4d}  {r.created_at:%Y-%m-%d %H:%M}  {r.n_labels:6d} labels"
                       f"  held-out macro-F1 {new.get('macro_f1')}  {r.actor}")
        return
    try:
        if rollback:
            back = learning.rollback(url)
            click.echo(f"model {back} is active again" if back else "the shipped model is in use again")
            return
        result = learning.train(url, actor=os.environ.get("USER", ""), min_labels=min_labels, force=force, say=say)
    except learning.TrainingError as exc:
        raise RepmonError(str(exc)) from None
    if result.activated:
        click.echo(f"model {result.model.id} trained on {result.n_labels} labelled posts is now active")
    else:
        raise RepmonError(f"the new model scored worse on held-out labels ({result.holdout['new']['macro_f1']} vs "
                          f"{result.holdout['current']['macro_f1']}); the current model stays. Use --force to "
                          "activate it anyway.")


@main.command()
@click.option("--once", is_flag=True, help="Run every job once, in order, then exit.")
@pass_ctx
def run(c: Ctx, once: bool) -> None:
    """Run the scheduler daemon: collect, score, cases and alerts on intervals."""
    from repmon import scheduler

    cfg = c.ready()
    if cfg.database.url.startswith("sqlite"):
        say("note: SQLite runs one worker; use PostgreSQL (database.url) to run several")
    if once:
        scheduler.run_once(cfg, say)
    else:
        say("scheduler running; Ctrl-C to stop")
        scheduler.serve(cfg)


def _dashboard_cmd(cfg: config_mod.Config, port: Optional[int]) -> list[str]:
    app = resources.files("dashboard") / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(port or cfg.dashboard.port), "--server.address", cfg.dashboard.address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button or developer menu for the team
    ]


def _dashboard_env(cfg: config_mod.Config) -> dict:
    env = dict(os.environ, REPMON_DATABASE_URL=cfg.database.url)
    if cfg.path:
        env["REPMON_CONFIG"] = str(Path(cfg.path).resolve())
    return env


@main.command()
@click.option("--port", type=int, help="Port (default: dashboard.port, 8501).")
@pass_ctx
def dashboard(c: Ctx, port: Optional[int]) -> None:
    """Serve the Streamlit dashboard (default: http://localhost:8501)."""
    cfg = c.ready()
    say(f"dashboard on http://{cfg.dashboard.address}:{port or cfg.dashboard.port}")
    proc = subprocess.Popen(_dashboard_cmd(cfg, port), env=_dashboard_env(cfg))
    # Stopping repmon stops the server too: without this a SIGTERM (systemd, a test) would leave
    # Streamlit running as an orphan, holding the port.
    signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        sys.exit(proc.wait())
    except KeyboardInterrupt:
        proc.terminate()
        sys.exit(proc.wait())


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option("--port", type=int, help="Dashboard port (default: dashboard.port, 8501).")
@click.option("--no-dashboard", is_flag=True, help="Run the pipeline only.")
@pass_ctx
def up(c: Ctx, port: Optional[int], no_dashboard: bool) -> None:
    """Start everything: demo data if the store is empty, scheduler, dashboard."""
    from repmon import scheduler
    from repmon.models import Mention
    from sqlmodel import func, select

    cfg = c.ready()
    with store.session(cfg.database.url) as s:
        empty = s.exec(select(func.count()).select_from(Mention)).one() == 0
    if empty:
        say("store is empty: loading the built-in demo data")
        click.get_current_context().invoke(demo, reset=False)
    stop = threading.Event()
    # SIGTERM (systemd, docker stop) takes the same clean path as Ctrl-C: dashboard, then scheduler.
    signal.signal(signal.SIGTERM, _interrupt)
    worker = threading.Thread(target=scheduler.serve, args=(cfg, stop), name="scheduler", daemon=True)
    worker.start()
    if no_dashboard:
        say("pipeline running; Ctrl-C to stop")
        try:
            while worker.is_alive():
                worker.join(0.5)
        except KeyboardInterrupt:
            pass
    else:
        say(f"dashboard on http://localhost:{port or cfg.dashboard.port} — Ctrl-C to stop")
        proc = subprocess.Popen(_dashboard_cmd(cfg, port), env=_dashboard_env(cfg))
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(10)
    stop.set()
    worker.join(30)


def _when(d: Optional[datetime]) -> str:
    return d.strftime("%Y-%m-%d %H:%M UTC") if d else "never"


@main.command()
@pass_ctx
def sources(c: Ctx) -> None:
    """Show each source's health: last run, last success, last error, items."""
    from collectors import known_kinds
    from repmon.models import Source
    from sqlmodel import select

    cfg = c.ready()
    with store.session(cfg.database.url) as s:
        store.sync_sources(s, cfg.sources)
    with store.session(cfg.database.url) as s:
        rows = s.exec(select(Source).order_by(Source.name)).all()
    if not rows:
        click.echo("no sources configured: add one under [sources] (see config.example.toml)")
        return
    fmt = "{:<16} {:<12} {:<20} {:<20} {:>8} {:>13}  {}"
    click.echo(fmt.format("SOURCE", "KIND", "STATE", "LAST SUCCESS", "ITEMS", "BUDGET", "LAST ERROR"))
    for r in rows:
        click.echo(fmt.format(r.name, r.kind, _state(r), _when(r.last_success_at), r.items_total,
                              f"{r.budget_used}/{r.budget_limit or '∞'}" if r.budget_used is not None else "—",
                              (r.last_error or "")[:60] if r.failing_since else ""))
    unused = sorted(set(known_kinds()) - {r.kind for r in rows})
    if unused:
        click.echo(f"\nalso available (add a [sources.NAME] section with kind = ...; see docs/sources/): "
                   f"{', '.join(unused)}")


def _state(r) -> str:
    now = datetime.now(timezone.utc)
    if not r.enabled:
        return "disabled"
    if r.rate_limited_until and r.rate_limited_until > now:
        return f"rate-limited {r.rate_limited_until:%H:%M}"
    if r.failing_since:
        return f"failing {int((now - r.failing_since).total_seconds() // 60)} min"
    return "ok" if r.last_success_at else "never run"


@main.command("cases")
@click.option("--status", default="open", show_default=True, help="open, all, or one status (new, acknowledged, ...).")
@click.option("--limit", default=20, show_default=True)
@pass_ctx
def cases_cmd(c: Ctx, status: str, limit: int) -> None:
    """List cases, most urgent first."""
    from dashboard import queries

    cfg = c.ready()
    df = queries.case_queue(cfg.database.url, status=status, limit=limit)
    if df.empty:
        click.echo("no cases: run `repmon demo` or `repmon collect` then `repmon process`")
        return
    for row in df.itertuples():
        click.echo(f"#{row.id:<6} {row.priority:<8} {row.status:<12} {row.category:<9} {row.lang:<3} "
                   f"{row.platform:<11} {row.author[:18]:<18} {row.text[:60]!r}")


@main.group()
def alerts() -> None:
    """Slack alerts: test the channels, send queued alerts, list the outbox."""


@alerts.command("test")
@pass_ctx
def alerts_test(c: Ctx) -> None:
    """Send one test message to every configured channel; exit 1 if any failed."""
    from alerts.outbox import notifiers
    from alerts.slack import test_message

    cfg = c.cfg
    sinks = notifiers(cfg)
    if not sinks:
        raise RepmonError("no alert channels configured: add [[alerts.slack]] with name and webhook_url")
    failed = 0
    for name, sink in sinks.items():
        try:
            sink.send(test_message(name))
            click.echo(f"{name}: sent")
        except RepmonError as exc:
            failed += 1
            click.echo(f"{name}: FAILED: {exc}")
    if failed:
        sys.exit(1)


@alerts.command("dispatch")
@pass_ctx
def alerts_dispatch(c: Ctx) -> None:
    """Send the queued alerts that are due now."""
    from alerts.outbox import dispatch

    r = dispatch(c.ready())
    click.echo(f"{r.sent} sent, {r.retrying} to retry, {r.failed} failed")


@alerts.command("list")
@click.option("--status", type=click.Choice(["pending", "sent", "failed", "all"]), default="all", show_default=True)
@pass_ctx
def alerts_list(c: Ctx, status: str) -> None:
    """Show the alert outbox, newest first."""
    from repmon.models import AlertOutbox
    from sqlmodel import select

    cfg = c.ready()
    with store.session(cfg.database.url) as s:
        q = select(AlertOutbox).order_by(AlertOutbox.id.desc()).limit(50)
        if status != "all":
            q = q.where(AlertOutbox.status == status)
        rows = s.exec(q).all()
    if not rows:
        click.echo("the outbox is empty")
    for a in rows:
        click.echo(f"{a.id:<6} {a.status:<8} {a.channel:<12} {a.key:<30} attempts={a.attempts} {a.last_error or ''}")


@main.command()
@click.option("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W47 (default: the last full week).")
@click.option("--output", type=click.Path(dir_okay=False), help="File to write (default: report-<week>.html).")
@pass_ctx
def report(c: Ctx, week: Optional[str], output: Optional[str]) -> None:
    """Write the weekly reputation report as HTML."""
    from reports import weekly

    cfg = c.ready()
    data = weekly.build(cfg, week)
    path = Path(output or f"report-{data.week}.html")
    path.write_text(weekly.render_html(data), encoding="utf-8")
    click.echo(f"report for {data.week} written to {path}")


@main.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check")
@pass_ctx
def config_check(c: Ctx) -> None:
    """Validate the config and say what it sets up; exit 1 with the key to fix if it is wrong."""
    from collectors import collector_class

    cfg = c.cfg
    for name, src in cfg.sources.items():
        collector_class(src.kind or name).from_config(name, src.model_dump(), cfg.brand(src.brand))
    click.echo(f"config OK: {cfg.path or 'no file found, using the built-in demo defaults'}")
    click.echo(f"  database: {store.redact_url(cfg.database.url)}")
    click.echo(f"  brands:   {', '.join(b.name for b in cfg.brands)}")
    click.echo(f"  sources:  {', '.join(f'{n} ({s.kind or n})' for n, s in cfg.sources.items()) or 'none'}")
    click.echo(f"  alerts:   {len(cfg.alerts.slack)} Slack channel(s), priority >= {cfg.alerts.min_priority}")


@main.group()
def user() -> None:
    """Dashboard accounts (kept in the config as scrypt hashes, never as passwords)."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "agent", "admin"]), default="agent", show_default=True,
              help="viewer reads; agent also works cases, teaches the scorer and posts replies; admin also sees Sources.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def user_add(name: str, role: str, password_stdin: bool) -> None:
    """Print a [[dashboard.users]] entry for NAME to paste into repmon.toml.

    Asks for the password twice (or reads it from stdin) and prints only its scrypt hash.
    """
    from repmon import auth

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise RepmonError("use a password of at least 8 characters")
    click.echo(f'[[dashboard.users]]\nname = "{name}"\nrole = "{role}"\n'
               f'password_hash = "{auth.hash_password(password)}"')


@main.group()
def db() -> None:
    """Database schema: upgrade in place, show the revision."""


@db.command("upgrade")
@pass_ctx
def db_upgrade(c: Ctx) -> None:
    """Create or upgrade the schema to the latest revision (safe to run any time)."""
    cfg = c.cfg
    store.migrate(cfg.database.url)
    click.echo(f"{store.redact_url(cfg.database.url)} at revision {store.current_revision(cfg.database.url)}")


if __name__ == "__main__":
    main()
