"""The operator page (``GET /``) in a real headless browser (Debian's chromium and
chromedriver through selenium) on a real worker fed with MovieLens events."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from app.training.movielens import load_titles
from devtools.processes import WorkerProcess
from tests.support.deployment import Deployment
from tests.support.movielens import MovieLensSlice
from tests.support.waiting import wait_for


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "`make test` installs chromium and chromium-driver (Debian)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1200,1800"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def console_errors(chrome: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in chrome.get_log("browser") if e["level"] == "SEVERE"]


async def test_the_page_loads_clean_and_a_lookup_shows_recommendations_with_titles(
    deployment_factory: Callable[..., Deployment],
    movielens_slice: MovieLensSlice,
    browser: webdriver.Chrome,
    tmp_path: Path,
) -> None:
    d = deployment_factory()
    await d.create_topics()
    worker: WorkerProcess = d.start_worker()
    records = movielens_slice(20, 30)
    await d.produce(records)
    user = records[-1][0].decode()

    def events_of_user() -> int:
        status, state = d.get_json(worker, f"/features/{user}/")
        return state["n_events"] if status == 200 and isinstance(state, dict) else 0

    sent = sum(1 for key, _ in records if key == user.encode())
    assert await asyncio.to_thread(wait_for, lambda: events_of_user() == sent, 60)
    _, state = d.get_json(worker, f"/features/{user}/")
    assert isinstance(state, dict)
    titles = load_titles()

    browser.get(worker.web_url + "/")
    assert browser.title.startswith("streamrec")
    partitions = browser.find_element(By.ID, "partitions").text
    assert partitions == ", ".join(str(p) for p in range(4)), partitions  # one worker: all
    assert "Model arms" in browser.page_source and "main" in browser.page_source
    assert console_errors(browser) == []

    # The lookup, as a person does it: type the id, press the button.
    field = browser.find_element(By.ID, "user")
    field.clear()
    field.send_keys(user)
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    WebDriverWait(browser, 20).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, "#recommendations li")
    )
    shown = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#recommendations li")]
    _, latest = d.get_json(worker, f"/recommendations/{user}/")
    assert isinstance(latest, dict)
    wanted = [item["item_id"] for item in latest["items"]]
    # The update may move on between the two reads only if events arrive; none do now.
    assert len(shown) == len(wanted) == 10
    for text, item in zip(shown, wanted, strict=True):
        assert text.startswith(f"{titles[item]} ({item})"), (text, item)
    recent = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#recent li")]
    assert recent[0].startswith(titles[state["recent"][-1]])  # newest first
    assert "?user=" in browser.current_url
    assert console_errors(browser) == []

    # An unknown user says so instead of failing; markup in the id stays text.
    browser.get(worker.web_url + "/?user=%3Cb%3Enobody%3C%2Fb%3E")
    assert "no user '<b>nobody</b>'" in browser.find_element(By.ID, "lookup-missing").text
    assert console_errors(browser) == []
    browser.save_screenshot(str(tmp_path / "operator-page.png"))
