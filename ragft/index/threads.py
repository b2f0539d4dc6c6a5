"""Threads and the index: one BLAS thread for a search's matrix products, and one thread at a
time reading ``.npy`` headers.

A query is one vector against the index: a matrix-vector product that a second thread barely
speeds up when the machine is idle and badly slows when it is busy (threads wait for a core held
by another request or process). Measured (2026-12-05, this 2-core machine while another job kept
it busy, load ~3; 384-dim float32, 200 products; /tmp script with threadpoolctl):

    10,000 rows:  1 thread p50 0.53 ms, p95 4.8 ms   |  2 threads p50 0.12 ms, p95 14.9 ms
    100,000 rows: 1 thread p50 25.9 ms, p95 31.4 ms  |  2 threads p50 24.0 ms, p95 32.0 ms

So searches run on one BLAS thread: the tail under load is three times shorter, and a server's
concurrent requests use the other cores. Entering the limit costs ~0.01 ms (one controller per
process, made on first use). Embedding (torch) and training are not affected.

``NPY_HEADERS`` is held while numpy opens a saved array (``np.load``, also inside bm25s). numpy
parses the header with ``ast.literal_eval``, and CPython 3.11 keeps the AST constructor's
recursion depth in interpreter-wide state (python/cpython#106905): two threads opening an index
at once (a server's requests) can fail with "SystemError: AST constructor recursion depth
mismatch" -- it happened once in CI, in the test with readers under a swapping writer, and
``tests/test_reliability.py`` makes it happen within ~850 opens without this lock by running
Python finalizers in mid-parse. Opening is cheap (the arrays are memory-mapped), so serialising it
costs nothing measurable.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

NPY_HEADERS = threading.Lock()
_CONTROLLER: list = []


@contextmanager
def one_blas_thread():
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    with _CONTROLLER[0].limit(limits=1, user_api="blas"):
        yield
