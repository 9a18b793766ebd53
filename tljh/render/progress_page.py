"""The install's progress: a status (which step runs, how it ended) and the page that shows it.

The bootstrap and the installer write the status into a root-only file
(:attr:`tljh.layout.Layout.install_progress`); with ``--show-progress-page``
the bootstrap serves :func:`render_progress_page` of it on port 80 until the
proxy needs the port.  The page shows step names only, never the install log:
the log may hold passwords (``--admin NAME:PASSWORD``) and URLs with tokens.

Pure and standard library only: ``bootstrap/bootstrap.py`` carries a generated
copy of these functions and constants (``python -m tljh.install.options
--write-bootstrap``), so they may use no name but each other's and the
bootstrap's imports (base64, hashlib, html, json).
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

#: The shape of the status file; a reader refuses any other.
PROGRESS_FORMAT = 1
#: What the bootstrap does before the installer's steps.
BOOTSTRAP_STEPS = ("system packages", "hub environment", "TLJH package")
#: How long a page whose installer has stopped keeps saying so (then port 80 is free again).
PROGRESS_LINGER_SECONDS = 600
#: How often the page asks for a newer state.
PROGRESS_POLL_SECONDS = 3
PROGRESS_OUTCOMES = ("running", "done", "failed")

PROGRESS_STYLE = """
body { font-family: system-ui, sans-serif; color: #222; background: #fafafa; margin: 0; }
main { max-width: 42em; margin: 3em auto; padding: 0 1em; }
h1 { font-size: 1.5em; }
progress { width: 100%; height: 1.2em; }
ol.steps { columns: 2; padding-left: 1.5em; color: #777; }
ol.steps li.done { color: #2e7d32; }
ol.steps li.done::marker { content: "\\2713  "; }
ol.steps li.running { color: #222; font-weight: bold; }
ol.steps li.failed { color: #c62828; font-weight: bold; }
.failed-box { border-left: 4px solid #c62828; background: #fff; padding: 0.5em 1em; }
code { background: #eee; padding: 0 0.2em; }
"""

# Replaces the page's <main> with a fresh copy every few seconds; once the
# answer is no longer this page (the hub's login page is up), reloads.  While
# nothing answers (the proxy is starting), it keeps trying.
PROGRESS_SCRIPT = """
(function () {
  function poll() {
    fetch(location.href, {cache: "no-store"}).then(function (r) {
      return r.text();
    }).then(function (text) {
      if (text.indexOf("data-tljh-progress") < 0) { location.reload(); return; }
      var fresh = new DOMParser().parseFromString(text, "text/html").querySelector("main");
      document.querySelector("main").replaceWith(fresh);
    }).catch(function () {
      var note = document.getElementById("waiting");
      if (note) { note.hidden = false; }
    }).finally(function () { setTimeout(poll, POLL_MS); });
  }
  setTimeout(poll, POLL_MS);
})();
"""


def new_progress(run: str, steps: list[str] | tuple[str, ...], now: float) -> dict[str, Any]:
    """A status for install ``run`` at its first step."""
    return {
        "format": PROGRESS_FORMAT,
        "run": run,
        "steps": list(steps),
        "current": 0,
        "outcome": "running",
        "updated": now,
    }


def progress_at(status: dict[str, Any], step: str, now: float) -> dict[str, Any]:
    """``status`` with ``step`` running and every step before it done.

    A step the list does not name (an installer newer than the list) is added
    after the current one.
    """
    steps = list(status["steps"])
    if step not in steps:
        steps.insert(min(status["current"] + 1, len(steps)), step)
    return {**status, "steps": steps, "current": steps.index(step), "updated": now}


def progress_ended(status: dict[str, Any], ok: bool, now: float) -> dict[str, Any]:
    """``status`` when the install finished (``ok``) or stopped on an error at its current step."""
    current = len(status["steps"]) if ok else status["current"]
    return {**status, "current": current, "outcome": "done" if ok else "failed", "updated": now}


def continue_progress(
    previous: dict[str, Any] | None, run: str, steps: list[str], now: float
) -> dict[str, Any]:
    """The status the installer starts from: the steps of the same ``run`` done so far
    (the bootstrap's, or an installer's that handed over to a fresh process) followed by
    ``steps``; a new status when ``previous`` is of another run.

    The step that was running when ``previous`` was written has finished: the
    bootstrap or installer ran it up to the hand-over.  The run's ``page`` (the
    pid of the process behind its progress page) is kept: the next run waits
    for that process to give port 80 back.
    """
    if previous is None or previous["run"] != run:
        return new_progress(run, steps, now)
    done = [s for s in previous["steps"][: previous["current"] + 1] if s not in steps]
    status = new_progress(run, done + list(steps), now)
    status["current"] = len(done)
    if "page" in previous:
        status["page"] = previous["page"]
    return status


def read_progress(text: str) -> dict[str, Any] | None:
    """The status in ``text`` (a status file's content), or None if it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("format") != PROGRESS_FORMAT:
        return None
    steps = data.get("steps")
    current = data.get("current")
    if (
        not isinstance(data.get("run"), str)
        or not isinstance(steps, list)
        or not all(isinstance(s, str) for s in steps)
        or not isinstance(current, int)
        or isinstance(current, bool)
        or not 0 <= current <= len(steps)
        or data.get("outcome") not in PROGRESS_OUTCOMES
        or not isinstance(data.get("updated"), (int, float))
    ):
        return None
    return data


def progress_script() -> str:
    """The page's script, with the poll interval filled in."""
    return PROGRESS_SCRIPT.replace("POLL_MS", str(PROGRESS_POLL_SECONDS * 1000))


def csp_hash(text: str) -> str:
    """A Content-Security-Policy source that allows exactly the inline ``text``."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def progress_page_headers() -> list[tuple[str, str]]:
    """The HTTP headers of the page: never cached, and nothing but its own script,
    its own style and requests to the same server (no outside resources)."""
    policy = (
        "default-src 'none'; connect-src 'self'; "
        f"script-src {csp_hash(progress_script())}; style-src {csp_hash(PROGRESS_STYLE)}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    ]


def render_progress_page(
    status: dict[str, Any] | None, installer_running: bool, log_path: str
) -> str:
    """The page for ``status`` (None: not known yet).

    ``installer_running`` is False once the process that runs the install is
    gone: a status still "running" then means it was interrupted.  The page
    names steps and says what to do; it never holds log lines.
    """
    esc = html.escape
    if status is None:
        state, steps, current = "running", [], 0
    else:
        state, steps, current = status["outcome"], status["steps"], status["current"]
        if state == "running" and not installer_running:
            state = "stopped"
    total = len(steps)
    items = []
    for index, name in enumerate(steps):
        if index < current:
            cls = "done"
        elif index == current:
            cls = "failed" if state in ("failed", "stopped") else "running"
        else:
            cls = "pending"
        current_attr = ' aria-current="step"' if cls in ("running", "failed") else ""
        items.append(f'<li class="{cls}"{current_attr}>{esc(name)}</li>')
    step_name = esc(steps[current]) if current < total else ""
    what_to_do = (
        "<h2>What to do</h2><ol>"
        "<li>On the server, read the lines starting with <code>error:</code> and "
        "<code>hint:</code> that the installer printed. The full log is in "
        f"<code>{esc(log_path)}</code>, which only root can read: "
        f"<code>sudo less {esc(log_path)}</code>.</li>"
        "<li>Fix what the hint names.</li>"
        "<li>Run the same install command again. That is safe: it keeps what is done "
        "and continues from there, and this page comes back while it runs.</li></ol>"
    )
    if state == "done":
        heading = "The Littlest JupyterHub is installed"
        body = "<p>The hub is starting. This page shows its login page in a moment.</p>"
    elif state in ("failed", "stopped"):
        heading = "The installation of The Littlest JupyterHub stopped"
        where = f" at step {current + 1} of {total}: {step_name}" if step_name else ""
        why = "on an error" if state == "failed" else "before it finished (it was interrupted)"
        body = f'<div class="failed-box"><p>The install stopped{where}, {why}.</p></div>'
        body += what_to_do
    else:
        heading = "The Littlest JupyterHub is being installed"
        if step_name:
            body = f'<p class="lead">Step {current + 1} of {total}: {step_name}</p>'
        else:
            body = '<p class="lead">Starting&hellip;</p>'
        body += (
            "<p>This takes a few minutes. This page updates itself, and shows the hub's "
            "login page when the install is done.</p>"
        )
    bar = (
        f'<progress max="{max(total, 1)}" value="{min(current, total)}">'
        f"{min(current, total)} of {total} steps done</progress>"
    )
    waiting = (
        '<p id="waiting" hidden>Waiting for the server to answer (the hub may be '
        "starting)&hellip;</p>"
    )
    steps_list = f'<ol class="steps">{"".join(items)}</ol>' if items else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(heading)}</title>"
        f'<noscript><meta http-equiv="refresh" content="{PROGRESS_POLL_SECONDS * 2}"></noscript>'
        f"<style>{PROGRESS_STYLE}</style></head>\n"
        f'<body data-tljh-progress="{state}"><main>'
        f"<h1>{esc(heading)}</h1>{body}{bar}{waiting}{steps_list}</main>"
        f"<script>{progress_script()}</script></body></html>\n"
    )
