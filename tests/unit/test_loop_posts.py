"""Calls posted to the event loop from threads: in order, the loop woken once for many."""

from __future__ import annotations

import asyncio
import threading

from tui_pacs.core.loop_posts import LoopPosts


async def test_calls_posted_before_the_loop_runs_them_take_one_wake_up():
    loop = asyncio.get_running_loop()
    posts = LoopPosts(loop)
    wake_ups = []
    real = loop.call_soon_threadsafe

    def counted(callback, *args):
        wake_ups.append(callback)
        return real(callback, *args)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    ran = []
    done = asyncio.Event()

    def post_many():
        for number in range(100):
            posts.post(ran.append, number)
        posts.post(loop.call_soon, done.set)

    try:
        thread = threading.Thread(target=post_many)
        thread.start()
        thread.join()  # the loop is not running them meanwhile: it waits here
        await done.wait()
    finally:
        del loop.call_soon_threadsafe
    assert ran == list(range(100))
    assert len(wake_ups) == 1


async def test_a_failing_call_does_not_stop_the_next(caplog):
    posts = LoopPosts(asyncio.get_running_loop())
    ran = []
    done = asyncio.Event()
    posts.post(lambda: 1 / 0)
    posts.post(ran.append, "after")
    posts.post(done.set)
    await done.wait()
    assert ran == ["after"]
    assert "posted to the event loop" in caplog.text


async def test_what_is_flushed_runs_at_once_and_only_once():
    """Whoever stops flushes: the last events are not left to a timer that
    may not fire again."""
    posts = LoopPosts(asyncio.get_running_loop())
    ran = []
    posts.post(ran.append, "last")
    posts.flush()
    assert ran == ["last"]
    done = asyncio.Event()
    posts.post(done.set)  # the timers fire with nothing more to run
    await done.wait()
    assert ran == ["last"]
