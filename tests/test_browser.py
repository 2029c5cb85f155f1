"""The web app in a real browser: headless Chromium (selenium) against uvicorn on a free
127.0.0.1 port. Skipped without chromium / chromedriver, unless COACHRL_REQUIRE_SERVICES=1
(CI), where that is a failure. Saves a screenshot of today's page in the test's folder, or
to the README's docs/today.png with COACHRL_SCREENSHOT=1."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from test_app import DATE, make_store, tiny_coach  # noqa: F401  (tiny_coach: a fixture)

from coachrl.app import create_app
from coachrl.coach.store import open_store

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("COACHRL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("COACHRL_CHROMEDRIVER", "/usr/bin/chromedriver")
README_SCREENSHOT = ROOT / "docs" / "today.png"


def _browser_or_skip() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        message = f"headless browser test needs {' and '.join(missing)}"
        if os.environ.get("COACHRL_REQUIRE_SERVICES") == "1":
            pytest.fail(message + " (COACHRL_REQUIRE_SERVICES=1)")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, tiny_coach):  # noqa: F811
    import uvicorn

    url = make_store(tmp_path / "coach.db")
    port = _free_port()
    app = create_app(url, tiny_coach)
    app.state.service.plan("runner", DATE)  # the coach's first plan (compiles) before timing
    uv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", url
    uv.should_exit = True
    thread.join(10)


@pytest.fixture
def browser():
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1000,1500", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _save_small_png(png: bytes, path: Path) -> None:
    """The screenshot as a 64-colour PNG (a few tens of kB)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=64).save(path, optimize=True)


def test_today_page_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import Select, WebDriverWait

    base, url = server
    browser.get(f"{base}/athletes/runner?date={DATE}")
    with open_store(url) as store:
        plan = store.plan("runner", DATE)
    assert browser.find_element(By.ID, "session").text == plan["label"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#week tr")) == 8  # header + 7 days
    reasons = browser.find_elements(By.CSS_SELECTOR, "#reasons li")
    assert [r.text for r in reasons] == plan["reasons"]
    chart = browser.find_element(By.ID, "pmc-chart")
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return arguments[0].complete && "
                                   "arguments[0].naturalWidth", chart))
    assert chart.size["width"] > 300 and chart.size["height"] > 80  # drawn, not a broken image
    screenshot = (README_SCREENSHOT if os.environ.get("COACHRL_SCREENSHOT") == "1"
                  else tmp_path / "today.png")
    _save_small_png(browser.get_screenshot_as_png(), screenshot)
    assert screenshot.stat().st_size < 300_000

    form = browser.find_element(By.ID, "log-form")
    Select(form.find_element(By.NAME, "session_type")).select_by_value("tempo")
    for name, value in (("minutes", "45"), ("hrv_ms", "57"), ("sleep_h", "7.5"),
                        ("habit:sleep", "8")):
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.ID, "log-submit").click()
    notice = WebDriverWait(browser, 15).until(
        expected_conditions.presence_of_element_located((By.ID, "notice")))
    assert notice.text == f"Logged {DATE}."
    with open_store(url) as store:
        day = store.days("runner", start=DATE)
        replanned = store.plan("runner", DATE)
    assert len(day) == 1 and day[0].hrv_ms == 57.0 and day[0].sleep_h == 7.5
    assert day[0].sessions == (("tempo", 45.0, None),) and day[0].habits == {"sleep": 8.0}
    assert replanned["log_fingerprint"] != plan["log_fingerprint"]  # today's readings count
