"""The `repmon` command. Commands parse options and call the same functions the scheduler does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Optional

import click

from repmon import config as config_mod
from repmon import logs, rollups, store
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

    from repmon import locks

    cfg = c.ready()
    # SQLite: a second `repmon run` on the same file stops here with one line (held until exit).
    click.get_current_context().with_resource(locks.single_worker(cfg.database.url))
    if cfg.database.url.startswith("sqlite"):
        say("note: SQLite runs one worker; use PostgreSQL (database.url) to run several")
    if once:
        scheduler.run_once(cfg, say)
    else:
        say("scheduler running; Ctrl-C to stop")
        scheduler.serve(cfg)


def _dashboard_cmd(cfg: config_mod.Config, port: Optional[int], secrets: Optional[Path] = None) -> list[str]:
    app = resources.files("dashboard") / "app.py"
    return [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(port or cfg.dashboard.port), "--server.address", cfg.dashboard.address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",  # no "Deploy" button or developer menu for the team
        # Only repmon's own file: a stray ./.streamlit/secrets.toml cannot change sign-in.
        *(["--secrets.files", str(secrets)] if secrets else []),
    ]


@contextmanager
def _auth_settings(cfg: config_mod.Config, port: Optional[int]):
    """With [dashboard.oidc]: Streamlit's [auth] settings in a private file for as long as the
    server runs (its path is shown; the secrets in it never are)."""
    oidc = cfg.dashboard.oidc
    if oidc is None:
        yield None
        return
    from repmon import auth

    path = auth.write_streamlit_auth(cfg.dashboard, port or cfg.dashboard.port)
    say(f"sign-in with {oidc.provider} (OIDC), back to {cfg.dashboard.oidc_redirect_uri(port)}; "
        f"Streamlit's settings in {path} (0600, removed on exit)")
    try:
        yield path
    finally:
        auth.remove_streamlit_auth(path)


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
    with _auth_settings(cfg, port) as secrets:
        proc = subprocess.Popen(_dashboard_cmd(cfg, port, secrets), env=_dashboard_env(cfg))
        # Stopping repmon stops the server too: without this a SIGTERM (systemd, a test) would leave
        # Streamlit running as an orphan, holding the port.
        signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
        try:
            code = proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            code = proc.wait()
    sys.exit(code)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@main.command()
@click.option("--port", type=int, help="Dashboard port (default: dashboard.port, 8501).")
@click.option("--no-dashboard", is_flag=True, help="Run the pipeline only.")
@pass_ctx
def up(c: Ctx, port: Optional[int], no_dashboard: bool) -> None:
    """Start everything: demo data if the store is empty, scheduler, dashboard."""
    from repmon import locks, scheduler
    from repmon.models import Mention
    from sqlmodel import func, select

    cfg = c.ready()
    click.get_current_context().with_resource(locks.single_worker(cfg.database.url))  # as in `repmon run`
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
        with _auth_settings(cfg, port) as secrets:
            proc = subprocess.Popen(_dashboard_cmd(cfg, port, secrets), env=_dashboard_env(cfg))
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
    from alerts.messages import test_message
    from alerts.outbox import notifiers

    cfg = c.cfg
    sinks = notifiers(cfg)
    if not sinks:
        raise RepmonError("no alert channels configured: add [[alerts.slack]] with a name and either "
                          "webhook_url or bot_token and channel (see config.example.toml)")
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
    click.echo(f"{r.sent} sent, {r.retrying} to retry, {r.failed} failed"
               + (f", {r.skipped} skipped" if r.skipped else "")
               + (f", {r.recovered} found already delivered after an interruption" if r.recovered else ""))


@alerts.command("list")
@click.option("--status", default="all", show_default=True,
              type=click.Choice(["pending", "sending", "sent", "failed", "digested", "skipped", "all"]),
              help="digested: folded into a digest during a flood; skipped: an update with nothing to do.")
@pass_ctx
def alerts_list(c: Ctx, status: str) -> None:
    """Show the alert outbox, newest first, with each row's last error or what happened to it."""
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


@alerts.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Requeue every failed alert.")
@pass_ctx
def alerts_retry(c: Ctx, ids: tuple[int, ...], all_failed: bool) -> None:
    """Queue failed alerts again (by ID, or all with --failed); `dispatch` sends them."""
    from alerts.outbox import retry

    if not ids and not all_failed:
        raise RepmonError("name the failed alerts to requeue (IDs from `repmon alerts list --status failed`) or pass --failed")
    requeued = retry(c.ready().database.url, list(ids), all_failed)
    missing = sorted(set(ids) - set(requeued))
    click.echo(f"{len(requeued)} alert(s) requeued" + (f"; not failed or unknown: {missing}" if missing else ""))
    if missing:
        sys.exit(1)


REPORT_EXAMPLES = """
\b
Examples:
  repmon report                                          last full week, as report-<week>.html
  repmon report --week 2026-W47 --output w47.pdf         that week, as PDF (from the extension)
  repmon report --format pdf                             last full week, as report-<week>.pdf
  repmon report --send                                   email / upload it as [reports] says
  repmon report --week 2026-W47 --send --output w47.pdf  send that week, and keep a copy
\b
Weeks are ISO weeks in UTC, Monday 00:00 to Monday 00:00. --send gives each destination one
copy per week: run it again to retry only the ones that failed. `repmon run` sends the report
by itself when [reports.weekly] is enabled. PDF needs Pango (Debian: libpango-1.0-0
libpangoft2-1.0-0).
"""


@main.command(epilog=REPORT_EXAMPLES)
@click.option("--week", metavar="YYYY-Www", help="ISO week, e.g. 2026-W47 (default: the last full week).")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]),
              help="Default: from --output's extension; else reports.format with --send; else html.")
@click.option("--output", type=click.Path(dir_okay=False), help="File to write (default: report-<week>.<format>; "
              "with --send, no file unless given).")
@click.option("--send", is_flag=True, help="Deliver by email and/or Slack as [reports] configures; a destination "
              "that already had this week's report is skipped.")
@pass_ctx
def report(c: Ctx, week: Optional[str], fmt: Optional[str], output: Optional[str], send: bool) -> None:
    """Write the weekly reputation report (HTML or PDF); --send delivers it."""
    from reports import deliver, render, weekly

    cfg = c.ready()
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    fmt = fmt or (suffix if suffix in ("html", "pdf") else cfg.reports.format if send else "html")
    if send and not deliver.destinations(cfg):
        raise RepmonError("--send: nowhere to send the report; add [reports.email] or reports.slack_channels "
                          "(see config.example.toml)")
    data = weekly.build(cfg, week)
    content = render.render(data, fmt)
    if output or not send:
        path = Path(output or f"report-{data.week}.{fmt}")
        path.write_bytes(content)
        click.echo(f"report for {data.week} written to {path}")
    if send:
        outcomes = deliver.deliver(cfg, data, content, fmt)
        for o in outcomes:
            click.echo(f"{o.destination}: {o.status}{f' ({o.detail})' if o.detail else ''}")
        if any(o.status == "failed" for o in outcomes):
            raise RepmonError("the report was not delivered everywhere; run the same command again to retry "
                              "the failed destinations only")


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


@db.command("rollups")
@pass_ctx
def db_rollups(c: Ctx) -> None:
    """Recount the dashboard's hourly rollups from the mentions and scores.

    Scoring keeps them in step by itself; run this after changing rows by hand (SQL, a restore
    of one table) if the Overview's figures disagree with the mentions. Takes about 20 s per
    million mentions on SQLite, in one transaction."""
    cfg = c.ready()
    with store.get_engine(cfg.database.url).begin() as conn:
        rollups.rebuild(conn)
    say("rollups recounted")


FORGET_EXAMPLES = """
\b
Examples:
  repmon forget --author @leaky_lucy --dry-run     what would go; changes nothing
  repmon forget --author @leaky_lucy               ask, then erase everywhere
  repmon forget --author u/lucy --platform reddit  only their Reddit posts and cases
  repmon forget --author @lucy@mastodon.social --yes   no question (scripts)
\b
The handle is matched without case, with or without @ or u/. Their posts, scores, edits,
feedback labels and cases go; a case that also holds other people's posts stays without
them. Alerts naming them: pending ones go, sent ones keep only their row (delete the Slack
messages themselves in Slack). In other people's posts @handle becomes @[removed]; the
posts themselves stay. One transaction: all of it happens, or none.
"""


def _echo_counts(counts: dict, empty: str) -> None:
    for table, done in counts.items():
        click.echo(f"  {table:<14} " + ", ".join(f"{n} {what}" for what, n in done.items()))
    if not counts:
        click.echo(f"  {empty}")


@main.command(epilog=FORGET_EXAMPLES)
@click.option("--author", required=True, metavar="HANDLE", help="The person's handle, e.g. @lucy, u/lucy, lucy.")
@click.option("--platform", metavar="NAME", help="Only this platform (x, reddit, mastodon, ...); default: all.")
@click.option("--dry-run", is_flag=True, help="Count what would be erased; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def forget(c: Ctx, author: str, platform: Optional[str], dry_run: bool, yes: bool) -> None:
    """Erase one person's data everywhere (right to erasure)."""
    from repmon import privacy

    cfg = c.ready()
    found = privacy.matches(cfg, author, platform)
    for name, where, n in found:
        click.echo(f"{name} on {where}: {n} post(s)")
    if not found:
        click.echo("no posts by that handle; other people's references to it are still scrubbed")
    plan = privacy.forget(cfg, author, platform, dry_run=True)
    click.echo("would erase:" if dry_run or not yes else "erasing:")
    _echo_counts(plan, "nothing: the handle appears nowhere")
    if dry_run or not plan:
        return
    if not yes:
        click.confirm("Erase this permanently? It cannot be undone", abort=True)
    done = privacy.forget(cfg, author, platform)
    click.echo("erased:")
    _echo_counts(done, "nothing")


PRUNE_EXAMPLES = """
\b
Examples:
  repmon prune --dry-run    how many mentions each retention period would touch now
  repmon prune              apply them now (`repmon run` does this once a day)
\b
[database] retention_days_raw (default 90) clears each mention's raw source payload after
that many days; retention_days (default 0: keep) deletes whole mentions, with their scores,
case links and cases left empty. Posts in open cases are kept until the case is closed.
Works in batches of 10,000 mentions, so SQLite is never locked for long.
"""


@main.command(epilog=PRUNE_EXAMPLES)
@click.option("--dry-run", is_flag=True, help="Count what would be pruned; change nothing.")
@pass_ctx
def prune(c: Ctx, dry_run: bool) -> None:
    """Apply the retention periods: clear old raw payloads, delete old mentions."""
    from repmon import privacy

    cfg = c.ready()
    def kept(days: int) -> str:
        return f"{days} days" if days else "kept forever"

    db = cfg.database
    click.echo(f"retention: raw payloads {kept(db.retention_days_raw)}, mentions {kept(db.retention_days)}")
    counts = privacy.prune(cfg, dry_run=dry_run)
    click.echo("would prune:" if dry_run else "pruned:")
    _echo_counts(counts, "nothing")


if __name__ == "__main__":
    main()
