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


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'demo.db'}"
    load_demo(db)
    port = _free_port()
    env = dict(os.environ, REPMON_DATABASE_URL=db)
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
        yield url
    finally:
        proc.terminate()
        proc.wait(20)


@pytest.fixture(scope="module")
def page(dashboard_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        yield pg
        browser.close()


def test_overview_queue_and_case_render_in_chromium(page, dashboard_url):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(dashboard_url, wait_until="networkidle")
    page.get_by_text("Reputation index", exact=True).wait_for(timeout=60_000)
    page.locator("canvas, svg.marks").first.wait_for(timeout=60_000)  # a chart was drawn
    page.screenshot(path=str(SHOTS / "overview.png"), full_page=True)

    page.goto(f"{dashboard_url}/queue", wait_until="networkidle")
    page.get_by_text("Select a row to open the case").wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "queue.png"), full_page=True)

    page.goto(f"{dashboard_url}/case?id=1", wait_until="networkidle")
    page.get_by_text("Suggested reply (edit before sending)").wait_for(timeout=60_000)
    page.get_by_text("Flagged because", exact=False).first.wait_for(timeout=60_000)
    page.screenshot(path=str(SHOTS / "case.png"), full_page=True)
    for name in ("overview", "queue", "case"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000
