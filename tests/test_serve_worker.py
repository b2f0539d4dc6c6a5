"""The model worker cannot be monopolised: a full queue answers 503 with Retry-After, the page and
API lanes are served in turn, a job's generation stops at its time limit, and shutdown drops the
queue. Plain functions stand in for model work; the deadline is checked on a real stopping criterion."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from fastapi import HTTPException

from ragft.models.loops import generation_deadline, repeat_stop
from ragft.serve.worker import ModelWorker


def _blocked(worker: ModelWorker) -> threading.Event:
    """Occupy the model thread until the returned event is set."""
    gate, started = threading.Event(), threading.Event()
    worker.submit(lambda: (started.set(), gate.wait(10)))
    assert started.wait(5)
    return gate


def test_a_full_queue_answers_503_with_retry_after():
    worker = ModelWorker(max_queue=3)
    gate = _blocked(worker)
    worker.submit(lambda: None)
    worker.submit(lambda: None)
    with pytest.raises(HTTPException) as refused:
        worker.submit(lambda: None)
    assert refused.value.status_code == 503 and refused.value.headers["Retry-After"] == "5"
    gate.set()
    worker.shutdown()


def test_pages_and_api_take_turns():
    worker = ModelWorker()
    gate = _blocked(worker)
    order: list[str] = []
    futures = [worker.submit(lambda n=n: order.append(f"api{n}"), "api") for n in range(4)]
    futures += [worker.submit(lambda n=n: order.append(f"page{n}"), "pages") for n in range(2)]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    assert order == ["page0", "api0", "page1", "api1", "api2", "api3"]  # the chat page is not starved
    worker.shutdown()


def test_a_generation_stops_at_the_jobs_time_limit():
    stop = repeat_stop(prompt_width=2)
    rows = torch.tensor([[1, 2, 3, 4], [1, 2, 5, 6]])
    assert not stop(rows, None).any()
    with generation_deadline(0.05):
        assert not stop(rows, None).any()
        time.sleep(0.1)
        assert stop(rows, None).all()  # past the limit: every row stops at its next token
    assert not stop(rows, None).any()


def test_shutdown_drops_what_is_queued():
    worker = ModelWorker()
    gate = _blocked(worker)
    queued = worker.submit(lambda: "never")
    worker.shutdown()
    gate.set()
    assert queued.cancelled()
    with pytest.raises(HTTPException):
        worker.submit(lambda: None)


def test_shutdown_stops_the_generation_in_flight_on_its_own_thread_only():
    cancel = threading.Event()
    stop = repeat_stop(prompt_width=2)
    rows = torch.tensor([[1, 2, 3, 4]])
    with generation_deadline(None, cancel):
        assert not stop(rows, None).any()
        cancel.set()
        assert stop(rows, None).all()
    assert not stop(rows, None).any()  # other jobs (and threads) generate as before
