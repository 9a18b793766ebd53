"""A class starting together: thirty students log in at once and every server starts.

On two cores, thirty servers started at once each get a fifteenth of a core and all
miss the hub's timeout; the spawner lets a few start at a time and the others wait in
line, their spawn page saying so (tljh/hub/admission.py). Functional, not timed: the
figures are in docs/topics/benchmarks.md (``./dev bench``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from conftest import DUMMY_PASSWORD as PASSWORD
from conftest import use_dummy_auth
from hubclient import HubClient
from machine import system_name, unit_property

CLASS_SIZE = 30


@pytest.fixture(scope="module")
def students(hub_url: str) -> Iterator[list[HubClient]]:
    use_dummy_auth()
    clients = [HubClient(hub_url, timeout=300) for _ in range(CLASS_SIZE)]
    yield clients
    stoppers = [threading.Thread(target=stop, args=(c,)) for c in clients if c.server_url]
    for t in stoppers:
        t.start()
    for t in stoppers:
        t.join()


def stop(client: HubClient) -> None:
    try:
        client.stop_server(timeout=120)
    except Exception as e:  # the next client still gets stopped
        print(f"stopping {client.name}: {e}")


def test_a_class_of_thirty_logging_in_at_once_all_get_a_server(
    students: list[HubClient],
) -> None:
    barrier = threading.Barrier(len(students))
    failures: dict[str, str] = {}

    def student(i: int, client: HubClient) -> None:
        name = f"pupil{i:02d}"
        barrier.wait()
        try:
            client.login(name, PASSWORD)
            client.start_server(timeout=600)
        except Exception as e:  # collected: the assertion shows them all
            failures[name] = f"{e}"

    threads = [threading.Thread(target=student, args=(i, c)) for i, c in enumerate(students)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, "\n\n".join(f"{n}: {e}" for n, e in sorted(failures.items()))

    for client in students:
        assert client.name is not None
        assert unit_property(system_name(client.name), "ActiveState") == "active"
    # More students than cores: some waited in line, and their page said so.
    slots = os.cpu_count() or 1
    if slots < CLASS_SIZE:
        waited = [
            c
            for c in students
            if any("ahead of yours" in m or "next in line" in m for m in c.progress_messages)
        ]
        assert waited, [c.progress_messages for c in students[:3]]


def test_a_queued_student_can_work(students: list[HubClient]) -> None:
    last = students[-1]
    assert last.execute("sum(range(10))") == "45"
