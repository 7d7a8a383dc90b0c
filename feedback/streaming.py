"""Long streamed responses under gunicorn's sync workers.

A sync worker tells gunicorn's master that it is alive only between requests,
so the master kills one that spends more than `timeout` (30 s) on a single
request, even one that is busy sending a large CSV export. gunicorn.conf.py
hands this module the worker's `notify` when the worker starts; a streamed
body passed through `alive_while` calls it as its pieces go out. A request
stuck on the database sends no pieces, so it is still killed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

# Seconds between two notes to the master: far inside any sensible timeout.
NOTIFY_EVERY = 5.0

_notify: Callable[[], None] | None = None


def keep_worker_alive(notify: Callable[[], None] | None) -> None:
    """Use `notify` (gunicorn's `worker.notify`) to say this process is alive; None to stop."""
    global _notify
    _notify = notify


def alive_while(pieces: Iterable[T], every: float = NOTIFY_EVERY) -> Iterator[T]:
    """`pieces` as they come, telling the master at most every `every` seconds that we live."""
    last = -every
    for piece in pieces:
        notify = _notify
        if notify is not None and time.monotonic() - last >= every:
            notify()
            last = time.monotonic()
        yield piece
