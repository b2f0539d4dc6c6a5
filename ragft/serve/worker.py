"""One model worker: every model computation (embedding, retrieval, generation, indexing) runs
on a single thread, one job at a time.

On a CPU the model uses every core for one request; running two at once only slows both and
doubles memory. So requests queue here instead — the web server's other threads keep answering
feedback and page requests meanwhile. What keeps one client from monopolising it:

- **bounded:** past ``max_queue`` waiting jobs a request gets HTTP 503 with ``Retry-After``;
- **fair:** the web pages and the API queue in two lanes served in turn, so a burst of API calls
  cannot starve the chat page (or the other way round);
- **time-limited:** a job's generation stops at its next token once ``job_timeout_s`` have
  passed (the answer so far is returned, its finish reason "length");
- **stoppable:** ``shutdown()`` drops queued jobs and stops the generation in flight, so SIGTERM
  ends the server in seconds.

Hand-written rather than a ThreadPoolExecutor: the standard pool has one FIFO queue, and a fair
choice between lanes is what this adds.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from fastapi import HTTPException

from ragft.models.loops import generation_deadline

_DONE = object()
LANES = ("pages", "api")


class ModelWorker:
    def __init__(self, max_queue: int = 256, job_timeout_s: float | None = 120.0):
        self.max_queue, self.job_timeout_s = max_queue, job_timeout_s
        self._lanes: dict[str, deque] = {lane: deque() for lane in LANES}
        self._last = LANES[-1]
        self._pending = 0
        self._closed = False
        self._cancel = threading.Event()  # set by shutdown: the generation in flight stops
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="ragft-model", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    # ----------------------------------------------------------------- queueing
    def submit(self, fn: Callable[[], Any], lane: str = "api") -> Future:
        """Queue ``fn`` in ``lane`` (or 503 when the queue is full); its Future holds the result."""
        future: Future = Future()
        with self._ready:
            if self._closed:
                raise HTTPException(503, "shutting down — retry on another server", headers={"Retry-After": "5"})
            if self._pending >= self.max_queue:
                raise HTTPException(503, f"busy: {self._pending} model requests are queued — retry shortly",
                                    headers={"Retry-After": "5"})
            self._pending += 1
            self._lanes[lane].append((future, fn))
            self._ready.notify()
        return future

    def _serve(self) -> None:
        while True:
            with self._ready:
                while not self._closed and not any(self._lanes.values()):
                    self._ready.wait()
                if self._closed:
                    return
                future, fn = self._lanes[self._next_lane()].popleft()
            try:
                if future.set_running_or_notify_cancel():
                    with generation_deadline(self.job_timeout_s, self._cancel):
                        future.set_result(fn())
            except BaseException as err:  # handed to the waiting request, which reports it
                future.set_exception(err)
            finally:
                with self._ready:
                    self._pending -= 1

    def _next_lane(self) -> str:
        """The lane after the one served last that has work (round robin)."""
        start = LANES.index(self._last)
        for step in range(1, len(LANES) + 1):
            lane = LANES[(start + step) % len(LANES)]
            if self._lanes[lane]:
                self._last = lane
                return lane
        raise AssertionError("called with every lane empty")

    # ----------------------------------------------------------------- for the routes
    async def run(self, fn: Callable[..., Any], *args, lane: str = "api", **kwargs) -> Any:
        """Run ``fn`` on the model thread and await its result."""
        return await asyncio.wrap_future(self.submit(lambda: fn(*args, **kwargs), lane))

    def run_sync(self, fn: Callable[..., Any], *args, lane: str = "api", **kwargs) -> Any:
        """The same, from a plain thread (CLI helpers, start-up)."""
        return self.submit(lambda: fn(*args, **kwargs), lane).result()

    def stream(self, fn: Callable[[Callable[[Any], None]], Any], lane: str = "api") -> AsyncIterator[tuple[str, Any]]:
        """Queue ``fn(emit)`` on the model thread now (or 503 when the queue is full) and return
        an async iterator of ("text", piece) for each ``emit(piece)``, then ("result", fn's
        return value). An exception in ``fn`` is re-raised to the reader. Call from the event loop."""
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

        self.submit(job, lane)
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
        self._cancel.set()
        with self._ready:
            self._closed = True
            for lane in self._lanes.values():
                while lane:
                    lane.popleft()[0].cancel()
            self._ready.notify_all()
