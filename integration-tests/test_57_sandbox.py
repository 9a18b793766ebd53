"""The sandbox of users' servers, on the real install: what a student's unit carries,
what it stops, and that notebooks still work inside it; what admins get instead;
the memory limit a server gets when limits.memory is not set."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import tljh_config, use_dummy_auth
from hubclient import HubClient, HubError
from machine import ADMIN, HUB_PYTHON, system_name, unit_property

STUDENT, OTHER = "sandboxed", "sandboxed-neighbour"
#: Where servers started by upstream's or an earlier release's hub check logins.
OLD_API_URL_LINE = "JUPYTERHUB_API_URL=http://127.0.0.1:15001/hub/api"

STUDENT_SANDBOX = {
    "NoNewPrivileges": "yes",
    "RestrictSUIDSGID": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectProc": "invisible",
    "PrivateTmp": "yes",
    "RestrictNamespaces": "yes",
}


@pytest.fixture(scope="module", autouse=True)
def dummy_auth() -> Iterator[None]:
    use_dummy_auth()
    yield


def started(hub_url: str, name: str) -> HubClient:
    client = HubClient(hub_url)
    client.login(name, PASSWORD)
    client.start_server()
    return client


@pytest.fixture(scope="module")
def student(hub_url: str) -> Iterator[HubClient]:
    client = started(hub_url, STUDENT)
    yield client
    client.stop_server()


@pytest.fixture(scope="module")
def neighbour(hub_url: str) -> Iterator[HubClient]:
    client = started(hub_url, OTHER)
    yield client
    client.stop_server()


@pytest.fixture(scope="module")
def admin(hub_url: str) -> HubClient:
    return started(hub_url, ADMIN)


def test_student_unit_carries_limits_and_sandbox(student: HubClient) -> None:
    unit = system_name(STUDENT)
    assert unit_property(unit, "TasksMax") == "1024"
    assert unit_property(unit, "MemorySwapMax") == "0"
    assert unit_property(unit, "TemporaryFileSystem") == "/dev/shm:mode=1777,nosuid,nodev"
    assert unit_property(unit, "CapabilityBoundingSet") == ""
    for prop, value in STUDENT_SANDBOX.items():
        assert unit_property(unit, prop) == value, prop


def test_admin_unit_has_limits_and_sudo_but_no_sandbox(admin: HubClient) -> None:
    unit = system_name(ADMIN)
    assert unit_property(unit, "TasksMax") == "1024"
    assert unit_property(unit, "MemorySwapMax") == "0"
    assert unit_property(unit, "NoNewPrivileges") == "no"
    assert unit_property(unit, "RestrictSUIDSGID") == "no"
    assert unit_property(unit, "ProtectKernelModules") == "no"
    sudo = "import subprocess; subprocess.run(['sudo', '-n', 'true']).returncode"
    assert admin.execute(sudo) == "0"


def test_notebooks_still_work_in_the_sandbox(student: HubClient) -> None:
    # multiprocessing with its POSIX shared memory and semaphores (in /dev/shm)
    code = (
        "import multiprocessing as mp\n"
        "from multiprocessing import shared_memory\n"
        "shm = shared_memory.SharedMemory(create=True, size=16)\n"
        "shm.buf[0] = 42\n"
        "with mp.get_context('fork').Pool(2) as pool:\n"
        "    squares = pool.map(abs, [-1, -2, -3])\n"
        "lock = mp.get_context('spawn').Lock()\n"
        "value = shm.buf[0]\n"
        "shm.close(); shm.unlink()\n"
        "(squares, value)"
    )
    assert student.execute(code) == "([1, 2, 3], 42)"
    # a subprocess, a thread pool, and writing in the home directory
    code = (
        "import subprocess, pathlib\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "out = subprocess.run(['python3', '-c', 'print(6*7)'], capture_output=True, text=True)\n"
        "with ThreadPoolExecutor(8) as ex: n = sum(ex.map(lambda i: i, range(10)))\n"
        "pathlib.Path('~/sandbox-check.txt').expanduser().write_text('ok')\n"
        "(out.stdout.strip(), n)"
    )
    assert student.execute(code) == "('42', 45)"
    # a terminal (a shell on a pseudo-terminal)
    r = student.post(student._server_path("api/terminals"))
    assert r.status_code == 200, r.text
    terminal = r.json()["name"]
    assert student.delete(student._server_path(f"api/terminals/{terminal}")).status_code == 204


def test_dev_shm_is_private_to_each_server(student: HubClient, neighbour: HubClient) -> None:
    student.execute("open('/dev/shm/tljh-shm-check', 'w').write('secret')")
    assert student.execute("import os; os.path.exists('/dev/shm/tljh-shm-check')") == "True"
    assert neighbour.execute("import os; os.path.exists('/dev/shm/tljh-shm-check')") == "False"
    assert not Path("/dev/shm/tljh-shm-check").exists()


def test_student_sees_only_their_own_processes(student: HubClient, neighbour: HubClient) -> None:
    neighbour_pid = unit_property(system_name(OTHER), "MainPID")
    hub_pid = unit_property("jupyterhub", "MainPID")
    code = (
        "import os\n"
        f"[os.path.exists('/proc/{neighbour_pid}'), os.path.exists('/proc/{hub_pid}'), "
        "os.path.exists(f'/proc/{os.getpid()}')]"
    )
    assert student.execute(code) == "[False, False, True]"


def test_student_cannot_make_set_uid_files_or_namespaces(student: HubClient) -> None:
    code = (
        "import os, subprocess\n"
        "p = os.path.expanduser('~/suid-check')\n"
        "open(p, 'w').close()\n"
        "try:\n"
        "    os.chmod(p, 0o4755); r = 'allowed'\n"
        "except PermissionError:\n"
        "    r = 'refused'\n"
        "u = subprocess.run(['unshare', '--user', 'true'], capture_output=True).returncode\n"
        "(r, u != 0)"
    )
    assert student.execute(code) == "('refused', True)"


def pids_max(unit: str) -> str | None:
    """The kernel's pids.max of the unit's cgroup, if the pids controller is there."""
    cgroup = unit_property(unit, "ControlGroup")
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        f = Path(root + cgroup) / "pids.max"
        if f.exists():
            return f.read_text().strip()
    return None


def test_fork_bomb_stops_at_tasks_max(student: HubClient) -> None:
    unit = system_name(STUDENT)
    if pids_max(unit) != "1024":
        pytest.skip(
            "the kernel does not enforce TasksMax in this container (no pids cgroup for the "
            f"unit, pids.max={pids_max(unit)}); the unit's TasksMax is checked above"
        )
    # Threads count as tasks and cost nothing while they wait.
    code = (
        "import threading\n"
        "stop = threading.Event(); threads = []\n"
        "try:\n"
        "    while len(threads) < 3000:\n"
        "        t = threading.Thread(target=stop.wait); t.start(); threads.append(t)\n"
        "except RuntimeError:\n"
        "    pass\n"
        "stop.set()\n"
        "for t in threads: t.join()\n"
        "len(threads)"
    )
    made = int(student.execute(code, timeout=120))
    assert 100 < made < 1024
    # the server and its kernel are still there
    assert student.execute("6 * 7") == "42"


def test_default_memory_limit_comes_from_the_machine(hub_url: str) -> None:
    shown = tljh_config("show")
    before = tljh_config("get", "limits.memory").strip() if "memory:" in shown else None
    expected = subprocess.run(
        [
            HUB_PYTHON,
            "-c",
            "from tljh.render.default_memory import default_memory_limit as d; "
            "from tljh.system.machine import total_memory as t; print(d(t()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    tljh_config("unset", "limits.memory", check=False)
    tljh_config("reload", "hub")
    try:
        client = started(hub_url, "default-memory")
        assert unit_property(system_name("default-memory"), "MemoryMax") == expected
        client.stop_server()
    finally:
        if before is not None:
            tljh_config("set", "limits.memory", before)
            tljh_config("reload", "hub")


def hub_port() -> int:
    out = subprocess.run(
        [HUB_PYTHON, "-c", "from tljh.render.hub import HUB_PORT; print(HUB_PORT)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


def test_a_student_cannot_take_the_hubs_port_while_it_restarts(student: HubClient) -> None:
    # The attack: try to bind the hub's port over and over, to win the moment the hub
    # restarts, and then answer for it (to the proxy, and to admins' servers).
    attempts = Path(f"/home/{system_name(STUDENT)}/hub-port-attempts.txt")
    script = f"""
import socket, time
seen = set()
end = time.monotonic() + 12
while time.monotonic() < end:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", {hub_port()}))
        s.listen()
        seen.add("bound")
        time.sleep(5)
    except OSError as e:
        seen.add(type(e).__name__)
    finally:
        s.close()
    time.sleep(0.005)
open({str(attempts)!r}, "w").write(" ".join(sorted(seen)))
"""
    code = (
        "import subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', {script!r}], start_new_session=True)\n"
        "'started'"
    )
    assert student.execute(code) == "'started'"
    time.sleep(1)
    tljh_config("reload", "hub")
    deadline = time.monotonic() + 30
    while not attempts.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert attempts.read_text() == "PermissionError"
    # The hub is back, on its port, and the student's server kept running.
    assert f"127.0.0.1:{hub_port()}" in unit_listeners("jupyterhub")
    assert student.execute("1 + 1") == "2"


def unit_listeners(unit: str) -> str:
    pid = unit_property(unit, "MainPID")
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    return "\n".join(line for line in out.splitlines() if f"pid={pid}," in line)


def test_a_server_started_for_another_hub_address_is_stopped_at_hub_start(
    student: HubClient, neighbour: HubClient
) -> None:
    # As a server started by an earlier hub: nothing listens at its hub address now,
    # and a student could.
    unit = system_name(OTHER)
    files = unit_property(unit, "EnvironmentFiles")
    env = Path(files.rsplit(" (ignore_errors=", 1)[0])
    text = env.read_text()
    older = re.sub(r"(?m)^JUPYTERHUB_API_URL=.*$", OLD_API_URL_LINE, text)
    assert older != text
    env.write_text(older)
    tljh_config("reload", "hub")
    deadline = time.monotonic() + 30
    while unit_property(unit, "ActiveState") == "active" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert unit_property(unit, "ActiveState") != "active"
    log = subprocess.run(
        ["journalctl", "-u", "jupyterhub", "-n", "200", "--no-pager"],
        capture_output=True,
        text=True,
    ).stdout
    assert f"Stopping {unit}: it was started for the hub at http://127.0.0.1:15001/" in log
    # A server this hub started is left alone.
    assert unit_property(system_name(STUDENT), "ActiveState") == "active"
    # The next visit starts it again, at the hub's address.
    neighbour.start_server()
    api_url = neighbour.execute("import os; os.environ['JUPYTERHUB_API_URL']")
    assert api_url.strip("'").rstrip("/") == f"http://127.0.0.1:{hub_port()}/hub/api"


def test_a_student_who_takes_another_servers_port_first_gets_nothing(
    student: HubClient, neighbour: HubClient
) -> None:
    # The neighbour's next server gets a port known in advance, that the student holds
    # (here the snippet picks it; on a real server, holding all the others would).
    port = 18123
    snippet = Path("/opt/tljh/config/jupyterhub_config.d/57-fixed-port.py")
    neighbour.stop_server()
    snippet.write_text(
        f"import systemdspawner.systemdspawner as s\ns.random_port = lambda: {port}\n"
    )
    tljh_config("reload", "hub")
    try:
        code = (
            "import socket\n"
            "s = socket.socket()\n"
            f"s.bind(('127.0.0.1', {port})); s.listen()\n"
            "globals()['held'] = s\n"
            "'held'"
        )
        assert student.execute(code) == "'held'"
        with pytest.raises(HubError) as e:
            neighbour.start_server(timeout=60)
        said = f"{e.value} {neighbour.progress_messages}"
        assert f"a program of another account ({system_name(STUDENT)})" in said, said
        student.execute("held.close()")
    finally:
        snippet.unlink()
        tljh_config("reload", "hub")
    neighbour.start_server()
