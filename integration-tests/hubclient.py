"""A small JupyterHub client that behaves like a browser: log in, start a server, run code.

Used by the integration suite against a real install. Talk to 127.0.0.1, not
localhost: JupyterHub ties the anonymous login XSRF token to the client address,
and a client that alternates between ::1 and 127.0.0.1 is refused with
"XSRF cookie does not match".

    hub = HubClient("http://127.0.0.1")
    hub.login("admin", "secret")
    seconds = hub.start_server()
    assert hub.execute("5 * 4") == "20"
    hub.stop_server()
"""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit

import requests

USER_AGENT = "tljh-integration-tests"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class HubError(RuntimeError):
    """The hub or the single-user server answered something unexpected."""


class KernelError(RuntimeError):
    """The code raised an exception in the kernel; the message holds its traceback."""

    def __init__(self, ename: str, evalue: str, traceback: str) -> None:
        super().__init__(f"{ename}: {evalue}\n{traceback}")
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback


def _fail(what: str, r: requests.Response) -> HubError:
    body = r.text[:2000].strip()
    return HubError(f"{what}: {r.request.method} {r.url} -> {r.status_code}\n{body}")


class HubClient:
    def __init__(
        self,
        base: str = "http://127.0.0.1",
        timeout: float = 30,
        base_url: str = "/",
        ca_file: str | None = None,
    ) -> None:
        """``base_url``: the hub's (config key base_url); ``ca_file``: the CA an
        https hub's certificate must chain to."""
        self.base = base.rstrip("/")
        self.base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
        self.timeout = timeout
        self.ca_file = ca_file
        self.session = requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.name: str | None = None  # the hub's name for the user, once logged in
        self.server_url: str | None = None  # e.g. /user/admin/, once started
        self._login_at: float | None = None
        self._started_since_login = False
        self._kernel_id: str | None = None
        #: The spawn page's messages during the last start (e.g. its place in line).
        self.progress_messages: list[str] = []

    # ------------------------------------------------------------ plumbing

    def url(self, path: str) -> str:
        if "://" in path:
            return path
        if path.startswith("/hub/"):
            # The hub's own pages; users' server URLs come from the hub with base_url in.
            path = self.base_url + path.lstrip("/")
        return self.base + "/" + path.lstrip("/")

    def xsrf_for(self, url: str) -> str | None:
        """The _xsrf cookie a browser would send to url (most specific path wins)."""
        path = urlsplit(url).path
        best: tuple[int, str] | None = None
        for cookie in self.session.cookies:
            if cookie.name != "_xsrf" or cookie.value is None:
                continue
            cpath = cookie.path or "/"
            applies = path.startswith(cpath) or path + "/" == cpath
            if applies and (best is None or len(cpath) > best[0]):
                best = (len(cpath), cookie.value)
        return best[1] if best else None

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An HTTP request with the session's cookies, plus the XSRF header that
        JupyterHub and Jupyter Server want on cookie-authenticated changes."""
        url = self.url(path)
        headers = dict(kwargs.pop("headers", None) or {})
        # What a browser sends: page loads and form posts navigate; the pages'
        # scripts call the APIs with the XSRF token from the cookie in a header.
        headers.setdefault("Sec-Fetch-Site", "same-origin")
        if "/api/" in urlsplit(url).path:
            headers.setdefault("Sec-Fetch-Mode", "cors")
            xsrf = self.xsrf_for(url)
            if xsrf:
                headers.setdefault("X-XSRFToken", xsrf)
        else:
            headers.setdefault("Sec-Fetch-Mode", "navigate")
        kwargs.setdefault("timeout", self.timeout)
        if self.ca_file:
            # Per request: requests lets REQUESTS_CA_BUNDLE (set in the container) win
            # over a session's verify.
            kwargs.setdefault("verify", self.ca_file)
        return self.session.request(method, url, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def click(self, path: str, on: str, **kwargs: Any) -> requests.Response:
        """GET ``path`` as a browser does for a click on a link of the page at ``on``:
        it says which page sent it (browsers send their own site the full address)."""
        headers = {"Referer": self.url(on), **(kwargs.pop("headers", None) or {})}
        return self.get(path, headers=headers, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def _user_api(self, suffix: str = "") -> str:
        if self.name is None:
            raise HubError("log in first")
        return f"/hub/api/users/{quote(self.name, safe='@~')}{suffix}"

    # ------------------------------------------------------------ the hub

    def login(self, username: str, password: str) -> None:
        """Log in through the hub's login form, as a browser does."""
        r = self.get("/hub/login")
        if r.status_code != 200:
            raise _fail("the login page did not load", r)
        xsrf = self.xsrf_for(self.url("/hub/login"))
        if not xsrf:
            raise HubError("the login page set no _xsrf cookie")
        r = self.post(
            "/hub/login",
            data={"username": username, "password": password, "_xsrf": xsrf},
            allow_redirects=False,
        )
        if r.status_code != 302:
            match = re.search(r'class="login_error"[^>]*>\s*([^<]+)', r.text)
            reason = f" ({match.group(1).strip()})" if match else ""
            raise _fail(f"login as {username!r} failed{reason}", r)
        self._login_at = time.monotonic()
        self._started_since_login = False
        # The anonymous XSRF token is replaced by one tied to the login on the next page.
        r = self.get("/hub/home")
        if r.status_code != 200:
            raise _fail("the home page did not load after login", r)
        self.name = self.whoami()["name"]

    def signup(self, username: str, password: str) -> str:
        """Sign up on the Native authenticator's form; returns the message the page shows."""
        return self.submit_form(
            "/hub/signup",
            {
                "username": username,
                "signup_password": password,
                "signup_password_confirmation": password,
            },
        )

    def submit_form(self, path: str, fields: dict[str, str]) -> str:
        """Fill in and send the form on the page at ``path``, as a browser does;
        returns the message the answer shows (its alert box)."""
        r = self.get(path)
        if r.status_code != 200:
            raise _fail(f"the page {path} did not load", r)
        xsrf = self.xsrf_for(self.url(path))
        r = self.post(path, data={**fields, "_xsrf": xsrf or ""})
        if r.status_code != 200:
            raise _fail(f"sending the form on {path} failed", r)
        match = re.search(r'class="alert[^"]*"[^>]*>\s*(.*?)\s*</div>', r.text, re.S)
        return re.sub(r"<[^>]+>|\s+", " ", match.group(1)).strip() if match else r.text

    def whoami(self) -> dict[str, Any]:
        r = self.get("/hub/api/user")
        if r.status_code != 200:
            raise _fail("who am I", r)
        data: dict[str, Any] = r.json()
        return data

    def user_model(self) -> dict[str, Any]:
        r = self.get(self._user_api())
        if r.status_code != 200:
            raise _fail("reading the user", r)
        data: dict[str, Any] = r.json()
        return data

    def start_server(self, timeout: float = 120) -> float:
        """Start the default server and wait until it answers through the proxy.

        Returns the seconds from login (or, for later starts, from this call) until
        the server's page loaded in this client.
        """
        requested = time.monotonic()
        since = self._login_at if self._login_at and not self._started_since_login else requested
        deadline = requested + timeout
        r = self.post(self._user_api("/server"))
        if r.status_code == 400 and "already running" in r.text:
            pass
        elif r.status_code not in (201, 202):
            raise _fail("starting the server", r)
        else:
            self._kernel_id = None  # a new server: kernels of an earlier one are gone
        self._wait_for_spawn(deadline)
        servers = self.user_model().get("servers") or {}
        server = servers.get("")
        if not server or not server.get("ready"):
            raise HubError(f"the hub says the server is not ready: {servers!r}")
        self.server_url = server["url"]
        # Open the server as a browser would: the OAuth round trip through the hub
        # sets the server's login and XSRF cookies.
        while True:
            r = self.get(self.server_url)
            if r.status_code == 200 and urlsplit(r.url).path.startswith(self.server_url):
                break
            if time.monotonic() > deadline:
                raise _fail("the server's page did not load in time", r)
            time.sleep(0.2)
        self._started_since_login = True
        return time.monotonic() - since

    def _wait_for_spawn(self, deadline: float) -> None:
        """Follow the hub's progress event stream (what the spawn page shows)."""
        messages: list[str] = []
        self.progress_messages = messages
        with self.get(
            self._user_api("/server/progress"),
            stream=True,
            headers={"Accept": "text/event-stream"},
            timeout=(10, 20),  # the hub sends a keepalive every 8 s
        ) as r:
            if r.status_code != 200:
                raise _fail("following the spawn progress", r)
            for line in r.iter_lines(decode_unicode=True):
                if time.monotonic() > deadline:
                    raise HubError("the server did not start in time:\n" + "\n".join(messages))
                if not line or not line.startswith("data:"):
                    continue
                event = json.loads(line[5:])
                if event.get("message"):
                    messages.append(str(event["message"]))
                if event.get("failed"):
                    raise HubError("the server failed to start:\n" + "\n".join(messages))
                if event.get("ready"):
                    return
        raise HubError("the progress stream ended without a ready event:\n" + "\n".join(messages))

    def stop_server(self, timeout: float = 60) -> None:
        r = self.delete(self._user_api("/server"))
        if r.status_code not in (202, 204):
            raise _fail("stopping the server", r)
        deadline = time.monotonic() + timeout
        while self.user_model().get("servers"):
            if time.monotonic() > deadline:
                raise HubError(f"the server of {self.name} did not stop within {timeout:.0f}s")
            time.sleep(0.2)
        self.server_url = None
        self._kernel_id = None

    def api_token(self, note: str = "integration tests", expires_in: int = 3600) -> str:
        """A new API token for this user (for the hub's REST API)."""
        r = self.post(self._user_api("/tokens"), json={"note": note, "expires_in": expires_in})
        if r.status_code not in (200, 201):
            raise _fail("creating a token", r)
        token: str = r.json()["token"]
        return token

    # ------------------------------------------------------------ the kernel

    def _server_path(self, suffix: str) -> str:
        if self.server_url is None:
            raise HubError("start the server first")
        return self.server_url + suffix.lstrip("/")

    def kernel_id(self) -> str:
        """This client's kernel, started on first use (its state persists between calls)."""
        if self._kernel_id is None:
            r = self.post(self._server_path("api/kernels"), json={})
            if r.status_code != 201:
                raise _fail("starting a kernel", r)
            self._kernel_id = r.json()["id"]
        return self._kernel_id

    def execute(self, code: str, timeout: float = 60) -> str:
        """Run code in the kernel; return its text/plain result, or else its stdout
        (without the final newline). Raises KernelError with the traceback on error."""
        # websocket-client: untyped, and only installed where the suite runs
        import websocket  # type: ignore[import-untyped,import-not-found,unused-ignore]

        kernel = self.kernel_id()
        http_url = self.url(self._server_path(f"api/kernels/{kernel}/channels"))
        session_id = uuid.uuid4().hex
        xsrf = self.xsrf_for(http_url) or ""
        ws_url = "ws" + http_url[len("http") :] + f"?session_id={session_id}&_xsrf={xsrf}"
        path = urlsplit(http_url).path
        cookie = "; ".join(
            f"{c.name}={c.value}" for c in self.session.cookies if path.startswith(c.path or "/")
        )
        headers = [
            f"User-Agent: {USER_AGENT}",
            "Sec-Fetch-Mode: websocket",
            "Sec-Fetch-Site: same-origin",
        ]
        if cookie:
            headers.append(f"Cookie: {cookie}")

        msg_id = uuid.uuid4().hex
        message = {
            "header": {
                "msg_id": msg_id,
                "msg_type": "execute_request",
                "username": self.name or "",
                "session": session_id,
                "date": datetime.now(timezone.utc).isoformat(),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
            "channel": "shell",
            "buffers": [],
        }
        deadline = time.monotonic() + timeout
        result: str | None = None
        stdout: list[str] = []
        error: KernelError | None = None
        idle = replied = False
        sslopt = {"ca_certs": self.ca_file} if self.ca_file else None
        ws = websocket.create_connection(ws_url, header=headers, timeout=timeout, sslopt=sslopt)
        try:
            ws.send(json.dumps(message))
            while not (idle and replied):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no result within {timeout:.0f}s for {code!r}")
                ws.settimeout(remaining)
                raw = ws.recv()
                if not isinstance(raw, str):
                    continue  # binary frames carry buffers we do not need
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg.get("msg_type") or msg["header"]["msg_type"]
                content = msg.get("content", {})
                if kind == "stream" and content.get("name") == "stdout":
                    stdout.append(content.get("text", ""))
                elif kind == "execute_result":
                    result = content.get("data", {}).get("text/plain")
                elif kind == "error":
                    tb = ANSI.sub("", "\n".join(content.get("traceback", [])))
                    error = KernelError(content.get("ename", ""), content.get("evalue", ""), tb)
                elif kind == "status" and content.get("execution_state") == "idle":
                    idle = True
                elif kind == "execute_reply":
                    replied = True
                    if content.get("status") == "error" and error is None:
                        error = KernelError(
                            content.get("ename", ""),
                            content.get("evalue", ""),
                            ANSI.sub("", "\n".join(content.get("traceback", []))),
                        )
        finally:
            ws.close()
        if error is not None:
            raise error
        if result is not None:
            return result
        text = "".join(stdout)
        return text[:-1] if text.endswith("\n") else text
