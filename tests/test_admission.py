"""The line of server starts: a few at a time, first come first served, never a lost slot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tljh.hub.admission import StartQueue, default_slots, waiting_message
from tljh.hub.spawner import UserCreatingSpawner


def test_no_more_than_slots_run_and_the_rest_go_in_arrival_order() -> None:
    async def main() -> tuple[int, list[int]]:
        queue = StartQueue(2)
        running = 0
        most = 0
        order: list[int] = []

        async def start(i: int) -> None:
            nonlocal running, most
            async with queue.slot(f"user{i}"):
                running += 1
                most = max(most, running)
                order.append(i)
                await asyncio.sleep(0.01)
                running -= 1

        await asyncio.gather(*(start(i) for i in range(30)))
        return most, order

    most, order = asyncio.run(main())
    assert most == 2
    assert order == list(range(30))


def test_waiting_starts_know_how_many_are_ahead() -> None:
    async def main() -> None:
        queue = StartQueue(1)
        first = queue.enter("a")
        second = queue.enter("b")
        third = queue.enter("c")
        assert first.admitted.is_set()
        assert not second.admitted.is_set()
        assert (queue.ahead(second), queue.ahead(third)) == (0, 1)
        assert (queue.running, queue.waiting) == (1, 2)
        queue.leave(first)
        assert second.admitted.is_set()
        assert queue.ahead(third) == 0
        queue.leave(second)
        queue.leave(third)
        assert (queue.running, queue.waiting) == (0, 0)

    asyncio.run(main())


def test_a_failed_start_gives_its_slot_to_the_next() -> None:
    async def main() -> list[str]:
        queue = StartQueue(1)
        done: list[str] = []

        async def failing() -> None:
            async with queue.slot("fails"):
                raise RuntimeError("the server crashed")

        async def next_one() -> None:
            async with queue.slot("next"):
                done.append("next")

        results = await asyncio.gather(failing(), next_one(), return_exceptions=True)
        assert isinstance(results[0], RuntimeError)
        assert (queue.running, queue.waiting) == (0, 0)
        return done

    assert asyncio.run(main()) == ["next"]


def test_a_start_cancelled_while_waiting_leaves_the_line() -> None:
    async def main() -> None:
        queue = StartQueue(1)
        holder = queue.enter("holder")
        later = queue.enter("later")

        async def gives_up() -> None:
            async with queue.slot("gives-up"):
                raise AssertionError("must not be admitted")

        task = asyncio.create_task(gives_up())
        await asyncio.sleep(0)
        assert queue.waiting == 2
        # The hub cancels a start that exceeds its start_timeout.
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert queue.waiting == 1
        queue.leave(holder)
        assert later.admitted.is_set()
        queue.leave(later)
        queue.leave(later)  # twice is harmless
        assert (queue.running, queue.waiting) == (0, 0)

    asyncio.run(main())


def test_no_slots_means_no_line() -> None:
    async def main() -> None:
        queue = StartQueue(0)
        tickets = [queue.enter(str(i)) for i in range(50)]
        assert all(t.admitted.is_set() for t in tickets)

    asyncio.run(main())


def test_changed_wakes_on_every_move_of_the_line() -> None:
    async def main() -> None:
        queue = StartQueue(1)
        first = queue.enter("a")
        waiter = asyncio.create_task(queue.changed())
        await asyncio.sleep(0)
        assert not waiter.done()
        second = queue.enter("b")
        await asyncio.wait_for(waiter, 1)
        waiter = asyncio.create_task(queue.changed())
        await asyncio.sleep(0)
        queue.leave(first)
        await asyncio.wait_for(waiter, 1)
        assert second.admitted.is_set()

    asyncio.run(main())


def test_one_slot_per_core_by_default() -> None:
    assert default_slots(2) == 2
    assert default_slots(16) == 16
    assert default_slots(0) == 1


def test_waiting_message_says_how_many_are_ahead() -> None:
    assert "3 starts ahead" in waiting_message(3)
    assert "1 start ahead" in waiting_message(1)
    assert "next" in waiting_message(0)


# ---------------------------------------------------------------- the spawner's part


def spawner(name: str, slots: int) -> Any:
    from types import SimpleNamespace

    user = SimpleNamespace(name=name, id=7, admin=False, url=f"/user/{name}/")
    orm_spawner = SimpleNamespace(name="", server=None, display_name="")
    return UserCreatingSpawner(user=user, orm_spawner=orm_spawner, start_slots=slots)


@pytest.fixture
def fresh_queue() -> Any:
    # The line belongs to the hub process; each test gets its own event loop.
    UserCreatingSpawner._start_queue = None
    yield
    UserCreatingSpawner._start_queue = None


@pytest.mark.usefixtures("fresh_queue")
def test_queued_start_tells_the_spawn_page_its_place() -> None:
    async def main() -> list[str]:
        first = spawner("first", slots=1)
        second = spawner("second", slots=1)
        third = spawner("third", slots=1)
        release = {s: asyncio.Event() for s in (first, second, third)}

        async def hold(s: Any) -> None:
            async with s._start_slot():
                await release[s].wait()

        for s in (first, second, third):
            s._spawn_pending = True
        tasks = [asyncio.create_task(hold(s)) for s in (first, second, third)]
        await asyncio.sleep(0)
        messages: list[str] = []

        async def follow() -> None:
            async for event in third.progress():
                messages.append(event["message"])

        follower = asyncio.create_task(follow())
        await asyncio.sleep(0.05)
        release[first].set()
        await asyncio.sleep(0.05)
        release[second].set()
        release[third].set()
        await asyncio.wait_for(asyncio.gather(*tasks, follower), 5)
        return messages

    messages = asyncio.run(main())
    assert messages[0] == waiting_message(1)
    assert waiting_message(0) in messages
    assert messages[-1] == "Starting your server..."


@pytest.mark.usefixtures("fresh_queue")
def test_spawner_defaults_leave_room_for_the_line() -> None:
    s = spawner("x", slots=2)
    assert s.start_timeout >= 300
    assert s.http_timeout >= 30
    assert spawner("y", slots=2).start_queue() is s.start_queue()
