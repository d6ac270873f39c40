"""The dashboard in real headless Chromium (Debian's package, driven by Playwright; no browser
download). Screenshots of each page land in test-output/screenshots/ for a person to look at."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from repmon import store
from repmon.models import Case
from tests.test_dashboard import load_demo

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "test-output" / "screenshots"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PASSWORD = "browser-test-pass"


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """The real dashboard process on the demo data, with sign-in required (one agent account)."""
    from repmon import auth

    d = tmp_path_factory.mktemp("browser")
    db = f"sqlite:///{d / 'demo.db'}"
    load_demo(db)
    conf = d / "repmon.toml"
    conf.write_text(f'[database]\nurl = "{db}"\n[[dashboard.users]]\nname = "ana"\nrole = "admin"\n'
                    f'password_hash = "{auth.hash_password(PASSWORD)}"\n')
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "REPMON_DATABASE_URL"}
    env["REPMON_CONFIG"] = str(conf)
    proc = subprocess.Popen([sys.executable, "-m", "repmon.cli", "dashboard", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://localhost:{port}"
    try:
        for _ in range(120):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        yield url, db
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def page(dashboard):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)  # let charts and fonts settle
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    assert (SHOTS / f"{name}.png").stat().st_size > 10_000


def nav(page, title: str) -> None:
    """Follow a sidebar link: the Streamlit session (and the sign-in) stays, a new URL would not."""
    page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()


def test_sign_in_open_a_case_from_the_queue_answer_it(page, dashboard):
    from dashboard import queries

    url, db = dashboard
    page.goto(url, wait_until="networkidle")
    page.get_by_role("textbox", name="Name").fill("ana")
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Reputation index", exact=True).wait_for(timeout=60_000)
    page.locator("canvas, svg.marks").first.wait_for(timeout=60_000)  # a chart was drawn
    shot(page, "overview")

    nav(page, "Case queue")
    page.get_by_text("Select a row to open the case").wait_for(timeout=60_000)
    shot(page, "queue")
    first = int(queries.case_queue(db).iloc[0]["id"])
    grid = page.locator('[data-testid="stDataFrame"]').first.bounding_box()
    page.mouse.click(grid["x"] + 18, grid["y"] + 35 + 17)  # the first row's selection box
    page.get_by_text(f"#{first} ·", exact=False).first.wait_for(timeout=60_000)
    page.get_by_text("Flagged because", exact=False).first.wait_for(timeout=60_000)

    shot(page, "case")
    box = page.get_by_label("Suggested reply (edit before sending)")
    box.fill("Hi, we're sorry about this. Please send us a DM and we'll sort it out today.")
    box.blur()
    page.wait_for_timeout(500)
    page.get_by_role("button", name="Mark responded").click()
    for _ in range(120):  # the click reaches the server over the websocket: wait for its write
        with store.session(db) as s:
            if s.get(Case, first).status == "responded":
                break
        page.wait_for_timeout(250)

    nav(page, "Case queue")
    page.get_by_text("Select a row to open the case").wait_for(timeout=60_000)
    assert first not in set(queries.case_queue(db)["id"])  # left the open queue
    with store.session(db) as s:
        case = s.get(Case, first)
    assert case.status == "responded" and case.final_reply.startswith("Hi, we're sorry about this")

    nav(page, "Themes")
    page.get_by_text("Recurring themes").wait_for(timeout=60_000)
    shot(page, "themes")
    nav(page, "Sources")
    page.get_by_role("heading", name="Sources").first.wait_for(timeout=60_000)
    page.locator('[data-testid="stDataFrame"]').first.wait_for(timeout=60_000)
    shot(page, "sources")
