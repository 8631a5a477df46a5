"""The playground in a real headless browser: Debian's chromium (installed by
scripts/install_system.sh), driven by Playwright through `executable_path` (no browser
download, ever). What the page shows must be what `/search.json` answers for the same
parameters, errors included; the screenshot is kept as a CI artefact
(`.cache/artifacts/playground.png`, the README's picture)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path(os.environ.get("SERPSIM_ARTIFACTS", REPO / ".cache" / "artifacts"))
QUERY = "who painted the mona lisa"


def _chromium() -> str:
    # The binary itself: the /usr/bin/chromium wrapper script works too, but prints shell noise.
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).exists():
            return candidate
    pytest.fail("Debian's chromium is not installed: run `make install-system` (scripts/install_system.sh)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _search(page: Page, q: str, num: int = 3, seed: int = 11, backend: str = "simulated") -> None:
    page.fill("input[name=q]", q)
    page.fill("input[name=num]", str(num))
    page.fill("input[name=seed]", str(seed))
    page.select_option("select[name=backend]", backend)
    for column in ("useful", "noisy"):  # a stale "done" from the last search must not count
        page.eval_on_selector(f"#{column}", "el => el.dataset.state = 'idle'")
    page.click("button[type=submit]")
    page.wait_for_selector("#useful[data-state=done]", timeout=120_000)
    page.wait_for_selector("#noisy[data-state=done]", timeout=120_000)


def _column(page: Page, column: str) -> list[tuple[str, str, str]]:
    return page.eval_on_selector_all(
        f"#{column} .result",
        "els => els.map(e => [e.querySelector('.title').textContent, e.querySelector('.snippet').textContent,"
        " e.querySelector('.label').textContent])",
    )


def test_side_by_side_matches_the_api(simulator, browser: Browser) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(simulator.base_url + "/")
    page.click("text=Playground")
    assert page.url == simulator.base_url + "/playground"
    _search(page, QUERY)
    for column in ("useful", "noisy"):
        api = httpx.get(
            f"{simulator.base_url}/search.json",
            params={"q": QUERY, "num": 3, "seed": 11, "backend": "simulated", "quality": column}, timeout=120,
        ).json()
        expected = [[r["title"], r["snippet"], column] for r in api["organic_results"]]
        assert _column(page, column) == expected and len(expected) == 3
    # each result's JSON one click away
    page.click("#noisy .result summary")
    shown = page.inner_text("#noisy .result pre.json")
    assert f'"title": {api["organic_results"][0]["title"]!r}'.replace("'", '"') in shown
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "playground.png"), full_page=True)


def test_bad_input_shows_the_api_message(simulator, browser: Browser) -> None:
    page = browser.new_page()
    page.goto(simulator.base_url + "/playground")
    long_query = "x" * 3000
    for q in ("", long_query):
        _search(page, q)
        api = httpx.get(f"{simulator.base_url}/search.json", params={"q": q, "num": 3, "seed": 11, "quality": "useful"})
        assert api.status_code == 400
        assert page.inner_text("#useful .error") == api.json()["error"]
        assert page.inner_text("#noisy .error") == api.json()["error"]
    assert page.inner_text("#useful .error").startswith("Invalid `q` parameter")
