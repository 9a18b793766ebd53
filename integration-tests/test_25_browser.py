"""A person in a real browser: log in on the hub's form, get JupyterLab, run a cell.

Debian's chromium (headless) driven by playwright; both come from the rootfs recipe in
harness.py. Playwright's own browser download is never used.
"""

from __future__ import annotations

import os
import pwd
import re
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from machine import system_name

if os.environ.get("TLJH_INTEGRATION") != "1":
    # Outside the container everything here is skipped (conftest.py), so don't fail
    # collecting it where playwright is not installed. Inside, a missing one fails.
    pytest.importorskip("playwright", reason="runs inside the test container")

from chromium import CHROMIUM, CHROMIUM_ARGS
from playwright.sync_api import (
    BrowserContext,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

STUDENT = "browser-student"
INTRUDER = "browser-intruder"
SCREENSHOTS = Path("/tmp")
# The first spawn creates the system user and starts the server: allow for a slow machine.
SPAWN_TIMEOUT_MS = 180_000
UI_TIMEOUT_MS = 60_000

OpenBrowser = Callable[[], AbstractContextManager[Page]]


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> None:
    use_dummy_auth()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright: Playwright, tmp_path_factory: pytest.TempPathFactory) -> OpenBrowser:
    """browser() -> a page in a fresh chromium profile; screenshots the page if the test fails."""

    @contextmanager
    def open_page() -> Iterator[Page]:
        profile = tmp_path_factory.mktemp("chromium-profile")
        context: BrowserContext = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            try:
                yield page
            except BaseException:
                with suppress(Exception):  # never hide the failure behind this one
                    page.screenshot(path=str(SCREENSHOTS / "tljh-browser-failure.png"))
                raise
        finally:
            context.close()

    return open_page


def submit_login(page: Page, hub_url: str, name: str, password: str) -> None:
    page.goto(f"{hub_url}/hub/login")
    page.locator("#username_input").fill(name)
    page.locator("#password_input").fill(password)
    page.locator("#login_submit").click()


def run_first_cell(notebook: Locator, code: str, attempts: int = 3) -> Locator:
    """Type code into the notebook's first code cell and run it with Shift+Enter, as a person
    would; returns the cell's output.

    While a new notebook settles, JupyterLab can still replace the cell or move the focus, and
    the keys are lost; a person would see that nothing ran and type it again, and so does this
    (with a warning, so that it stays visible).
    """
    cell = notebook.locator(".jp-CodeCell").first
    editor = cell.locator(".cm-content")
    output = cell.locator(".jp-OutputArea-output")
    for attempt in range(1, attempts + 1):
        try:
            editor.click()
            editor.press("ControlOrMeta+a")
            editor.press("Backspace")
            editor.press_sequentially(code)
            expect(editor).to_have_text(code, timeout=5_000)
            editor.press("Shift+Enter")
            expect(output).to_be_visible(timeout=15_000)
        except AssertionError as e:
            if attempt == attempts:
                raise
            seen = cell.inner_text(timeout=5_000).strip().replace("\n", " ")
            warnings.warn(
                f"the cell did not run on attempt {attempt} ({str(e).splitlines()[0]};"
                f" the cell shows {seen!r}); typing it again",
                stacklevel=2,
            )
            continue
        return output
    raise AssertionError("unreachable")


def test_wrong_password_does_not_reach_lab(browser: OpenBrowser, hub_url: str) -> None:
    with browser() as page:
        submit_login(page, hub_url, INTRUDER, "not-the-password")
        expect(page.locator(".login_error")).to_be_visible()
        assert "/hub/login" in page.url
        assert "/user/" not in page.url
        # Its own page for the user must not let it in either.
        page.goto(f"{hub_url}/user/{INTRUDER}/lab")
        expect(page.locator("#login_submit")).to_be_visible()
        assert "/hub/login" in page.url
    with pytest.raises(KeyError):
        pwd.getpwnam(system_name(INTRUDER))


def test_login_opens_lab_and_runs_a_cell(
    browser: OpenBrowser, hub_url: str, timings: Callable[[str, float], None]
) -> None:
    with browser() as page:
        submit_login(page, hub_url, STUDENT, PASSWORD)
        started = time.monotonic()
        page.wait_for_url(re.compile(rf"/user/{STUDENT}/lab"), timeout=SPAWN_TIMEOUT_MS)
        launcher = page.locator(".jp-Launcher")
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
        expect(launcher).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
        timings("browser_login_to_lab_seconds", round(time.monotonic() - started, 2))
        page.screenshot(path=str(SCREENSHOTS / "tljh-browser-lab.png"))

        # Open a notebook from the launcher and run a cell as a person would.
        launcher.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
        notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
        editor = notebook.locator(".jp-Cell .cm-content").first
        expect(editor).to_be_visible()
        # The kernel's status is shown once it has started; typing before that is fine
        # too (JupyterLab queues the request), but waiting keeps failures clear.
        expect(notebook.locator(".jp-Notebook-ExecutionIndicator").first).to_have_attribute(
            "data-status", "idle", timeout=UI_TIMEOUT_MS
        )
        output = run_first_cell(notebook, "5 * 4")
        expect(output).to_have_text("20")
        page.screenshot(path=str(SCREENSHOTS / "tljh-browser-cell.png"))
    # The server the browser started runs as the user's own system account.
    pwd.getpwnam(system_name(STUDENT))
