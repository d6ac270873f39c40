"""The weekly report as one self-contained HTML file (charts inside as data URIs), and as PDF
through WeasyPrint from the same HTML. Post text is untrusted: it is escaped, never markup."""

from __future__ import annotations

import html
import logging
import unicodedata
from datetime import timedelta
from typing import Optional

from reports import charts
from reports.weekly import Figures, WeeklyData, platform_name
from repmon.errors import RepmonError

POST_CHARS = 240
# Debian's names for what WeasyPrint loads at run time (Pango draws and shapes the text).
PDF_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
LANGUAGES = {"en": "English", "es": "Spanish", "ro": "Romanian", "fa": "Persian", "de": "German", "fr": "French",
             "pt": "Portuguese", "it": "Italian", "ar": "Arabic", "tr": "Turkish", "nl": "Dutch", "pl": "Polish",
             "und": "unknown"}

CSS = """
@page { size: A4; margin: 16mm 14mm 18mm 14mm;
  @bottom-left { content: FOOTER; font-size: 7.5pt; color: #6b7280; }
  @bottom-right { content: "Page " counter(page) " of " counter(pages); font-size: 7.5pt; color: #6b7280; } }
html { font-family: "DejaVu Sans", "Noto Sans", "Vazirmatn", Arial, sans-serif; font-size: 9pt; color: #1f2937; }
body { margin: 0 auto; max-width: 190mm; }
@media screen { body { padding: 2em 1em; } }
header { border-bottom: 3px solid #1e3a8a; padding-bottom: 6pt; margin-bottom: 10pt; }
h1 { font-size: 17pt; margin: 0; color: #1e3a8a; }
.period { color: #6b7280; margin: 2pt 0 0; }
h2 { font-size: 11.5pt; color: #1e3a8a; margin: 14pt 0 5pt; border-bottom: 1px solid #e5e7eb; padding-bottom: 2pt;
  break-after: avoid; }
section { break-inside: avoid; }
section.long { break-inside: auto; }
section.page { break-before: page; }
.note { color: #6b7280; font-size: 7.5pt; margin: 2pt 0 6pt; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; }
th { text-align: left; font-weight: bold; color: #6b7280; font-size: 7.5pt; text-transform: uppercase;
  letter-spacing: .03em; border-bottom: 1px solid #d1d5db; padding: 3pt 4pt; }
td { padding: 3pt 4pt; border-bottom: 1px solid #f0f1f3; vertical-align: top; overflow-wrap: anywhere; }
tr { break-inside: avoid; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
table.cards { border-collapse: separate; border-spacing: 5pt 0; margin: 0 -5pt 6pt; }
table.cards td { border: 1px solid #e5e7eb; border-radius: 4pt; padding: 6pt 7pt; background: #f9fafb; }
.label { font-size: 7.5pt; color: #6b7280; text-transform: uppercase; letter-spacing: .03em; }
.value { font-size: 16pt; font-weight: bold; margin: 2pt 0; white-space: nowrap; }
table.trio { table-layout: auto; width: auto; }
table.cards table.trio td { border: 0; background: none; padding: 0 9pt 0 0; white-space: nowrap;
  overflow-wrap: normal; }
table.cards table.trio td.value { font-size: 13pt; margin: 0; padding-top: 3pt; }
table.trio tr + tr td { font-size: 6.5pt; color: #6b7280; padding-bottom: 2pt; }
.delta { font-size: 7.5pt; color: #6b7280; }
.good { color: #15803d; } .bad { color: #c2410c; }
ul.changes { margin: 0; padding-left: 14pt; } ul.changes li { margin: 2pt 0; }
img.chart { width: 100%; display: block; margin: 2pt 0 4pt; }
.post { font-size: 8pt; }
.post[dir=rtl] { text-align: right; }
.trend-new, .trend-rising { color: #c2410c; font-weight: bold; } .trend-falling { color: #15803d; }
.muted { color: #6b7280; }
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _css_string(text: str) -> str:
    """A CSS string literal; the brand's name is config text, and must not end the style sheet."""
    return '"' + "".join(c if c.isalnum() or c in " ·-_.,:()" else f"\\{ord(c):x} " for c in text) + '"'


def _signed(v: Optional[float], digits: int = 1) -> str:
    return "—" if v is None else f"{v:+.{digits}f}"


def _pct(v: Optional[float]) -> str:
    return "—" if v is None else f"{v:.0%}"


def _minutes(v: Optional[float]) -> str:
    if v is None:
        return "—"
    return f"{v:.0f} min" if v < 90 else f"{v / 60:.1f} h"


def _delta(now: Optional[float], before: Optional[float], unit: str, better: int, scale: float = 1,
           digits: int = 1) -> str:
    """'▲ 2.1 pts vs last week', green when the move is good (better=+1: up is good, -1: down is
    good, 0: neither)."""
    if now is None or before is None:
        return '<div class="delta">no figure last week</div>'
    diff = (now - before) * scale
    if round(diff, digits) == 0:
        return '<div class="delta">no change vs last week</div>'
    tone = "" if better == 0 else (" good" if diff * better > 0 else " bad")
    arrow = "▲" if diff > 0 else "▼"
    return f'<div class="delta{tone}">{arrow} {abs(diff):,.{digits}f}{unit} vs last week</div>'


def _volume_delta(now: int, before: int) -> str:
    if not before:
        return '<div class="delta">none last week</div>'
    diff = now - before
    if diff == 0:
        return '<div class="delta">no change vs last week</div>'
    return f'<div class="delta">{"▲" if diff > 0 else "▼"} {abs(diff) / before:.0%} ({diff:+,}) vs last week</div>'


def _card(label: str, value: str, delta: str, key: str) -> str:
    return (f'<td><div class="label">{_e(label)}</div><div class="value" id="{key}">{value}</div>{delta}</td>')


def _brand_share(f: Figures, brand: str) -> Optional[float]:
    if f.share_of_voice.empty:
        return None
    row = f.share_of_voice[f.share_of_voice["name"] == brand]
    return None if row.empty or not f.share_of_voice["mentions"].sum() else float(row["share"].iloc[0])


def _cards(d: WeeklyData) -> str:
    n, b = d.now, d.before
    share_now, share_before = _brand_share(n, d.brand), _brand_share(b, d.brand)
    first = [
        _card("Reputation index", _signed(n.index), _delta(n.index, b.index, " pts", +1), "index"),
        _card("Mentions", f"{n.volume:,}", _volume_delta(n.volume, b.volume), "volume"),
        _card("Negative share", _pct(n.negative_share), _delta(n.negative_share, b.negative_share, " pts", -1, 100, 0),
              "negative-share"),
        _card("Share of voice", _pct(share_now), _delta(share_now, share_before, " pts", +1, 100, 0)
              if share_now is not None else '<div class="delta">no competitors configured</div>', "brand-share"),
    ]
    cases = n.cases
    second = [
        '<td><div class="label">Cases</div><table class="trio" id="cases"><tr>'
        + "".join(f'<td class="value">{cases[k]:,}</td>' for k in ("opened", "responded", "resolved"))
        + '</tr><tr><td>opened</td><td>responded</td><td>resolved</td></tr></table>'
        f'<div class="delta">last week {b.cases["opened"]:,} / {b.cases["responded"]:,} / {b.cases["resolved"]:,}'
        '</div></td>',
        _card("Median first response", _minutes(n.median_first_response_min),
              _delta(n.median_first_response_min, b.median_first_response_min, " min", -1, 1, 0), "median-response"),
        _card("Answered within SLA", _pct(n.within_sla), _delta(n.within_sla, b.within_sla, " pts", +1, 100, 0),
              "within-sla"),
        _card("Needed a response", f"{n.needs_response:,}",
              _delta(n.needs_response, b.needs_response, "", 0, 1, 0), "needs-response"),
    ]
    row = "".join
    return (f'<table class="cards"><tr>{row(first)}</tr></table>'
            f'<table class="cards"><tr>{row(second)}</tr></table>')


def _direction(text: str) -> str:
    """'rtl' when most letters are right-to-left (Persian, Arabic, Hebrew). Not the first letter, as
    dir="auto" would: a Persian post often starts with the brand's Latin name or handle."""
    kinds = [unicodedata.bidirectional(ch) for ch in text]
    rtl = sum(k in ("R", "AL") for k in kinds)
    return "rtl" if rtl > kinds.count("L") else "ltr"


def _post(text: str, limit: int = POST_CHARS) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return f'<div class="post" dir="{_direction(text)}">{_e(text)}</div>'


def _platform_table(d: WeeklyData) -> str:
    before = dict(zip(d.before.by_platform["platform"], d.before.by_platform["volume"])) \
        if not d.before.by_platform.empty else {}
    rows = "".join(
        f"<tr><td>{_e(platform_name(r.platform))}</td><td class=num>{int(r.volume):,}</td>"
        f"<td class=num>{int(r.volume) - int(before.get(r.platform, 0)):+,}</td>"
        f"<td class=num>{int(r.negative):,}</td><td class=num>{int(r.volume - r.negative - r.positive):,}</td>"
        f"<td class=num>{int(r.positive):,}</td><td class=num>{r.negative / r.volume:.0%}</td>"
        f"<td class=num>{r.mean_sentiment:+.2f}</td></tr>"
        for r in d.now.by_platform.itertuples()
    ) or "<tr><td colspan=8 class=muted>No mentions this week.</td></tr>"
    return ("<table id=\"platforms\"><tr><th style='width:22%'>Platform</th><th class=num>Mentions</th>"
            "<th class=num>vs last week</th><th class=num>Negative</th><th class=num>Neutral</th>"
            "<th class=num>Positive</th><th class=num>Negative share</th><th class=num>Mean sentiment</th></tr>"
            f"{rows}</table>")


def _language_table(d: WeeklyData) -> str:
    rows = "".join(
        f"<tr><td>{_e(LANGUAGES.get(r.lang or 'und', r.lang))} <span class=muted>({_e(r.lang)})</span></td>"
        f"<td class=num>{int(r.volume):,}</td><td class=num>{int(r.negative):,}</td>"
        f"<td class=num>{int(r.positive):,}</td>"
        f"<td class=num>{r.negative / r.volume:.0%}</td><td class=num>{r.mean_sentiment:+.2f}</td></tr>"
        for r in d.by_lang.itertuples()
    ) or "<tr><td colspan=6 class=muted>No mentions this week.</td></tr>"
    return ("<table id=\"languages\"><tr><th style='width:30%'>Language</th><th class=num>Mentions</th>"
            "<th class=num>Negative</th><th class=num>Positive</th><th class=num>Negative share</th>"
            f"<th class=num>Mean sentiment</th></tr>{rows}</table>")


def _share_table(d: WeeklyData) -> str:
    sov = d.now.share_of_voice
    if sov.empty:
        return "<p class=muted>Add competitors to the brand (brands.competitors) to compare share of voice.</p>"
    before = dict(zip(d.before.share_of_voice["name"], d.before.share_of_voice["share"])) \
        if d.before.share_of_voice["mentions"].sum() else {}
    rows = "".join(
        f"<tr><td>{_e(r.name)}</td><td class=num>{int(r.mentions):,}</td><td class=num>{r.share:.1%}</td>"
        f"<td class=num>{_signed((r.share - before[r.name]) * 100 if r.name in before else None, 1)}"
        f"{' pts' if r.name in before else ''}</td><td class=num>{r.negative_share:.0%}</td></tr>"
        for r in sov.itertuples()
    )
    return ("<table id=\"share-of-voice\"><tr><th style='width:34%'>Brand</th><th class=num>Mentions</th>"
            "<th class=num>Share of voice</th><th class=num>vs last week</th><th class=num>Negative share</th></tr>"
            f"{rows}</table>")


def _themes_table(d: WeeklyData) -> str:
    rows = "".join(
        f"<tr><td>{_e(t.label)}</td><td class=num>{t.count}</td>"
        f"<td class=num>{' · '.join(map(str, t.previous))}</td><td class='trend-{t.trend}'>{t.trend}</td>"
        f"<td>{_post(t.examples[0].text, 160) if t.examples else ''}</td></tr>" for t in d.themes
    ) or "<tr><td colspan=5 class=muted>No complaints this week.</td></tr>"
    return ("<table id=\"themes\"><tr><th style='width:24%'>Theme</th><th class=num style='width:8%'>Posts</th>"
            "<th class=num style='width:15%'>Weeks before</th><th style='width:9%'>Trend</th><th>Example</th></tr>"
            f"{rows}</table>")


def _negative_table(d: WeeklyData) -> str:
    rows = "".join(
        f"<tr><td>{_e(p.author or 'unknown')}<br><span class=muted>{p.reach:,} followers</span></td>"
        f"<td>{_e(platform_name(p.platform))}<br><span class=muted>{p.created_at:%a %d %b %H:%M}</span></td>"
        f"<td>{_post(p.text)}{'<span class=muted>removed by its author</span>' if p.removed else ''}</td></tr>"
        for p in d.top_negative
    ) or "<tr><td colspan=3 class=muted>No negative posts this week.</td></tr>"
    return ("<table id=\"negative\"><tr><th style='width:20%'>Author</th>"
            "<th style='width:15%'>Platform, time (UTC)</th>"
            f"<th>Post</th></tr>{rows}</table>")


def render_html(d: WeeklyData) -> str:
    last_day = d.end - timedelta(days=1)
    period = f"{d.start:%A %d %B} to {last_day:%A %d %B %Y} (UTC)"
    footer = f"{d.brand} · weekly reputation report {d.week}"
    changes = "".join(f"<li>{_e(c)}</li>" for c in d.changes) or "<li>No mentions in either week.</li>"
    by_platform = "" if d.now.by_platform.empty else (
        '<img class=chart alt="Sentiment by platform" '
        f'src="{charts.sentiment_by_platform(d.now.by_platform, platform_name)}">')
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(d.brand)} reputation {d.week}</title>
<style>{CSS.replace("FOOTER", _css_string(footer))}</style>
</head><body>
<header><h1>{_e(d.brand)}: weekly reputation report</h1>
<p class=period>Week {d.week} · {period} · made {d.generated_at:%Y-%m-%d %H:%M} UTC</p></header>
{_cards(d)}
<section><h2>What changed since last week</h2><ul class="changes" id="changes">{changes}</ul></section>
<section><h2>Reputation index and mentions per day</h2>
<img class=chart alt="Reputation index and mentions per day" src="{charts.index_and_volume(d.daily)}">
<p class=note>Reputation index: the reach-weighted mean sentiment of the mentions, from −100 (all negative) to
+100 (all positive); an account with 100,000 followers counts six times as much as one with none.</p></section>
<section><h2>Sentiment by platform</h2>{by_platform}</section>
<section><h2>By platform</h2>{_platform_table(d)}</section>
<section><h2>By language</h2>{_language_table(d)}</section>
<section><h2>Share of voice</h2>{_share_table(d)}
<p class=note>Of the mentions naming the brand or a competitor this week, the share naming each; a post naming
two counts for both.</p></section>
<section class="long page"><h2>Recurring complaint themes</h2>{_themes_table(d)}
<p class=note>Complaints grouped by category and a phrase they share. Weeks before: the same theme's posts in
each of the four weeks before, oldest first.</p></section>
<section class=long><h2>Most-reached negative posts</h2>{_negative_table(d)}</section>
<p class=note>Cases: opened, first answered, and resolved during the week. Median first response and SLA: over the
cases first answered during the week, from their first post.</p>
</body></html>
"""


def render_pdf(page: str) -> bytes:
    """The HTML laid out on A4 by WeasyPrint. Only data: URIs are loaded: the report never reaches
    the network, and a post cannot make the renderer fetch anything."""
    # Both log every step and font subset at INFO: noise in `repmon run`'s log.
    for noisy in ("fontTools", "weasyprint.progress"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import weasyprint
    except (OSError, ImportError) as exc:
        raise RepmonError(f"PDF reports need WeasyPrint and Pango ({type(exc).__name__}: {exc}). On Debian or "
                          f"Ubuntu: apt-get install {PDF_PACKAGES}; or use --format html") from None

    if hasattr(weasyprint, "URLFetcher"):  # WeasyPrint 68 and later
        fetcher = weasyprint.URLFetcher(allowed_protocols=["data"])
    else:
        def fetcher(url: str, *args, **kwargs):
            if not url.startswith("data:"):
                raise ValueError(f"the report loads nothing from outside the file: {url[:80]}")
            return weasyprint.default_url_fetcher(url, *args, **kwargs)

    return weasyprint.HTML(string=page, url_fetcher=fetcher).write_pdf()


def render(d: WeeklyData, fmt: str) -> bytes:
    page = render_html(d)
    return page.encode("utf-8") if fmt == "html" else render_pdf(page)
