"""One model worker: every model computation (embedding, retrieval, generation, indexing) runs
on a single thread, one job at a time, in arrival order.

On a CPU the model uses every core for one request; running two at once only slows both and
doubles memory. So requests queue here instead — the web server's other threads keep answering
feedback and page requests meanwhile. The queue is bounded: past ``max_queue`` waiting jobs a
request gets HTTP 503 with Retry-After instead of waiting without end.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import HTTPException

from ragft.models.loops import abort_generation

_DONE = object()


class ModelWorker:
    def __init__(self, max_queue: int = 256):
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragft-model")
        self._pending = 0
        self._lock = threading.Lock()
        self.max_queue = max_queue

    @property
    def pending(self) -> int:
        return self._pending

    def _admit(self) -> None:
        with self._lock:
            if self._pending >= self.max_queue:
                raise HTTPException(503, f"busy: {self._pending} model requests are queued — retry shortly",
                                    headers={"Retry-After": "5"})
            self._pending += 1

    def _release(self) -> None:
        with self._lock:
            self._pending -= 1

    async def run(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """Run ``fn`` on the model thread and await its result."""
        self._admit()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, lambda: fn(*args, **kwargs))
        finally:
            self._release()

    def run_sync(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        """The same, from a plain thread (CLI helpers, start-up)."""
        self._admit()
        try:
            return self._executor.submit(fn, *args, **kwargs).result()
        finally:
            self._release()

    def stream(self, fn: Callable[[Callable[[Any], None]], Any]) -> AsyncIterator[tuple[str, Any]]:
        """Queue ``fn(emit)`` on the model thread now (or 503 when the queue is full) and return
        an async iterator of ("text", piece) for each ``emit(piece)``, then ("result", fn's
        return value). An exception in ``fn`` is re-raised to the reader. Call from the event loop."""
        self._admit()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop has closed: the server is shutting down
                pass

        def job():
            try:
                put(("result", fn(lambda piece: put(("text", piece)))))
            except BaseException as err:  # handed to the reading request, which reports it
                put(("error", err))
            finally:
                put((_DONE, None))

        future = loop.run_in_executor(self._executor, job)
        future.add_done_callback(lambda _: self._release())
        return self._read(queue)

    @staticmethod
    async def _read(queue: asyncio.Queue) -> AsyncIterator[tuple[str, Any]]:
        while True:
            kind, value = await queue.get()
            if kind is _DONE:
                return
            if kind == "error":
                raise value
            yield kind, value

    def shutdown(self) -> None:
        """Queued jobs are dropped and a generation in flight stops at its next token, so SIGTERM
        ends the server in seconds, not after the answer it was writing."""
        abort_generation()
        self._executor.shutdown(wait=False, cancel_futures=True)
