"""Wake long-polling requests when something they wait for may have changed.

In-process only: a hub running several processes still works, because every waiter also
re-checks the database at least once a second.
"""

from __future__ import annotations

import asyncio
import contextlib


class Notifier:
    """Per-key wake-ups. ``notify`` may be called from any thread."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def current(self, key: str) -> asyncio.Event:
        """The event a waiter should wait on; take it *before* checking the database."""
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = asyncio.Event()
        return event

    def notify(self, key: str) -> None:
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._fire, key)

    def shutdown(self) -> None:
        """Wake every waiter and make later waits return at once (the server is stopping)."""
        self.stopping = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fire_all)

    def _fire_all(self) -> None:
        events, self._events = self._events, {}
        for event in events.values():
            event.set()

    def _fire(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait until ``event`` fires (True) or ``timeout`` seconds pass (False)."""
        if self.stopping:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return event.is_set()
