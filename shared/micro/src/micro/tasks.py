"""Background tasks that belong to something that waits for them.

    self._tasks = Tasks("selector")
    self._tasks.spawn(self._follow(watcher), name="registry watch")
    ...
    await self._tasks.aclose()      # cancel what still runs, and wait for it

`asyncio.TaskGroup` is the right owner when the tasks live inside one
`async with` block. A service, a selector or a subscription starts its
tasks in one method and ends them in another, so it keeps them in a
`Tasks`: nothing it started outlives it, and a task that failed is logged
rather than lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


class Tasks:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._running: set[asyncio.Task[Any]] = set()
        self._closed = False

    def spawn(self, work: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Run `work` in the background until it ends or `aclose()` is called."""
        if self._closed:
            work.close()
            raise RuntimeError(f"{self.owner} is closed: it starts no more tasks")
        task = asyncio.create_task(work, name=f"{self.owner}: {name}")
        self._running.add(task)
        task.add_done_callback(self._finished)
        return task

    def __len__(self) -> int:
        return len(self._running)

    async def aclose(self) -> None:
        """Cancel the tasks still running and wait until every one has ended."""
        self._closed = True
        running = list(self._running)
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())
