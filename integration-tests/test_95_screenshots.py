"""Pictures of the real product for the docs: `./dev screenshots` (opt-in, TLJH_SCREENSHOTS=1).

On a fresh install, as a new teacher would: the login page, JupyterLab after the admin's first
login, the admin page after adding two students (one of whom logged in), and the text of
`tljh status` and of the install log. The files land in $TLJH_SCREENSHOTS_DIR, and the harness
copies them into docs/_static/screenshots/, where the tutorials show them.

Skipped unless TLJH_SCREENSHOTS=1, so that CI stays fast; the pictures are committed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from conftest import TLJH_CONFIG

if os.environ.get("TLJH_SCREENSHOTS") != "1":
    pytest.skip("screenshots are taken on request only: ./dev screenshots", allow_module_level=True)
if os.environ.get("TLJH_INTEGRATION") != "1":
    pytest.skip("runs inside the test container", allow_module_level=True)

from chromium import CHROMIUM, CHROMIUM_ARGS
from machine import ADMIN
from playwright.sync_api import Browser, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

OUT = Path(os.environ.get("TLJH_SCREENSHOTS_DIR", "/opt/tljh-tests/screenshots"))
HUB = "http://127.0.0.1"
VIEWPORT = {"width": 1280, "height": 800}
ADMIN_PASSWORD = "a long screenshot password"
STUDENTS = ("arnold", "wanda")
SPAWN_TIMEOUT_MS = 180_000
FONTS = ("fonts-dejavu-core", "fonts-liberation2")


def _install_fonts() -> None:
    """The fonts a teacher's browser has: the container's rootfs has none but a fallback, and
    pages would be drawn in it. Only for pictures; the rest of the suite does not need them."""
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *FONTS]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True, capture_output=True)
        subprocess.run(install, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    OUT.mkdir(parents=True, exist_ok=True)
    _install_fonts()
    # The login the tutorials describe: FirstUse, the default (a no-op on a fresh install).
    subprocess.run([TLJH_CONFIG, "set", "auth.type", "firstuse"], check=True)
    subprocess.run([TLJH_CONFIG, "reload"], check=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def _login(page: Page, name: str, password: str) -> None:
    page.goto(f"{HUB}/hub/login")
    page.locator("#username_input").fill(name)
    page.locator("#password_input").fill(password)
    page.locator("#login_submit").click()
    page.wait_for_url(re.compile(r"/user/[^/]+/lab"), timeout=SPAWN_TIMEOUT_MS)
    expect(page.locator(".jp-Launcher")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)


def test_screenshots(browser: Browser) -> None:
    admin = browser.new_page(viewport=VIEWPORT)
    admin.set_default_timeout(60_000)

    # 1. The login page, with the admin's name typed in.
    admin.goto(f"{HUB}/hub/login")
    admin.locator("#username_input").fill(ADMIN)
    admin.locator("#password_input").fill(ADMIN_PASSWORD)
    admin.screenshot(path=str(OUT / "login.png"))

    # 2. JupyterLab after the first login (which set the admin's password).
    admin.locator("#login_submit").click()
    admin.wait_for_url(re.compile(r"/user/[^/]+/lab"), timeout=SPAWN_TIMEOUT_MS)
    expect(admin.locator(".jp-Launcher")).to_be_visible(timeout=SPAWN_TIMEOUT_MS)
    # JupyterLab asks once whether to fetch Jupyter's news; answer as most people do.
    news = admin.get_by_role("button", name="No", exact=True)
    with suppress(PlaywrightTimeout):
        news.click(timeout=10_000)
    admin.wait_for_timeout(2_000)  # let the file browser and the launcher settle
    admin.screenshot(path=str(OUT / "jupyterlab.png"))

    # 3. The admin page: add two students as the tutorial does, one of them logs in.
    admin.goto(f"{HUB}/hub/admin")
    admin.get_by_role("button", name=re.compile("Add Users", re.I)).first.click()
    admin.locator("#add-user-textarea").fill("\n".join(STUDENTS))
    admin.locator("#add-user-textarea").blur()
    admin.locator("#submit").click()
    for name in STUDENTS:
        expect(admin.get_by_text(name, exact=True).first).to_be_visible()
    student = browser.new_page(viewport=VIEWPORT)
    _login(student, STUDENTS[0], "arnold's own password")
    student.close()
    admin.goto(f"{HUB}/hub/admin")
    expect(admin.get_by_text(STUDENTS[1], exact=True).first).to_be_visible()
    admin.wait_for_timeout(1_000)
    admin.screenshot(path=str(OUT / "admin.png"))
    admin.close()

    # 4. What `sudo tljh status` prints on this healthy hub.
    status = subprocess.run(["tljh", "status"], capture_output=True, text=True)
    assert status.stdout.strip(), status.stderr
    (OUT / "tljh-status.txt").write_text(status.stdout)
    # A healthy hub is what the tutorial shows; a problem here is worth a look, not a picture.
    assert status.returncode == 0, f"tljh status is not all OK:\n{status.stdout}"

    # 5. The install's log, as the tutorial explains it (timestamps left out).
    log = Path("/opt/tljh/installer.log").read_text()
    lines = [
        re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(,\d+)? ", "", line) for line in log.splitlines()
    ]
    (OUT / "install-log.txt").write_text("\n".join(lines) + "\n")

    for name in ("login.png", "jupyterlab.png", "admin.png"):
        assert (OUT / name).stat().st_size > 10_000, f"{name} looks empty"
