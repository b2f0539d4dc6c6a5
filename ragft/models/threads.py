"""How many CPU threads torch uses: one deliberate setting per process (``threads:`` in a study
config or ``ragft.yaml``, or ``RAGFT_THREADS``).

``auto`` (the default) gives one job every core it may run on, unless ``OMP_NUM_THREADS`` says
otherwise: on an idle 2-core machine, reading a 1,000-token RAG prompt took 1.9 s on one thread
and 1.0 s on two. When several model-heavy processes share the cores, give each
``threads: 1`` (or ``RAGFT_THREADS=1``): two threads per process then fight over the same cores —
a 16-question batch took 59.6 CPU-s with torch's default two threads and 6.2 CPU-s with one on a
busy machine. Searches in the index use one BLAS thread whatever this says
(``ragft.index.threads``).
"""

from __future__ import annotations

import os

from ragft.config import Threads, parse_threads
from ragft.errors import ConfigError


def resolve_threads(setting: Threads = "auto") -> int:
    """The thread count ``setting`` means on this machine (``RAGFT_THREADS`` wins when set)."""
    if "RAGFT_THREADS" in os.environ:  # checked as the config setting is
        try:
            setting = parse_threads(os.environ["RAGFT_THREADS"])
        except ValueError as err:
            raise ConfigError(f"RAGFT_THREADS={err}") from None
    if setting != "auto":
        return setting
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def apply_threads(setting: Threads = "auto") -> int:
    """Set torch's intra-op threads for this process; returns the count."""
    import torch

    count = resolve_threads(setting)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
