"""Timing that measures the method, not the machine: wall and CPU time, and how busy the machine was.

Seconds per query become dollars in the cost model, so a study timed while another job shares
the cores would price a variant several times too high (47 s/q measured under load against
~3 s/q idle). Each batch of answers is therefore timed with ``BatchTimer``: wall seconds, this
process's CPU seconds, and the cores *other* processes kept busy meanwhile (system-wide busy CPU
time minus ours, from psutil). ``robust_seconds_per_query`` then prices a variant from the quiet
batches only (median of their per-question means), and says when no batch was quiet.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

BUSY_CORES = 0.5  # other processes using more than half a core on average make a batch "busy"


def _system_busy_seconds() -> float | None:
    try:
        import psutil
    except ImportError:  # psutil comes with accelerate; without it load is simply unknown
        return None
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return sum(times) - idle


@dataclass
class BatchTimer:
    """Start it before a batch; ``stop(n)`` gives the per-question figures for the batch's records."""

    _wall: float = 0.0
    _cpu: float = 0.0
    _busy: float | None = None

    def __post_init__(self) -> None:
        self._wall, self._cpu, self._busy = time.perf_counter(), time.process_time(), _system_busy_seconds()

    def stop(self, n_questions: int) -> dict:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        busy_now = _system_busy_seconds()
        others = None
        if self._busy is not None and busy_now is not None and wall > 0:
            others = round(max(0.0, (busy_now - self._busy - cpu) / wall), 3)
        n = max(n_questions, 1)
        return {"batch_id": f"{time.time():.6f}", "cpu_s": cpu / n, "others_cores": others}


def robust_seconds_per_query(records: list[dict]) -> dict:
    """Seconds per query for pricing, from the batches timed on a quiet machine.

    Returns ``{"seconds_per_query", "cpu_seconds_per_query", "busy_share", "method"}``: the
    median of quiet batches' per-question means when there are three or more such batches,
    their mean with fewer, and the plain mean of every record (flagged) when none was quiet or
    the records predate batch timing.
    """
    if not records:
        return {"seconds_per_query": 0.0, "cpu_seconds_per_query": None, "busy_share": None, "method": "none"}
    batches: dict[str, list[dict]] = {}
    for record in records:
        batches.setdefault(record.get("batch_id") or "", []).append(record)
    timed = {key: group for key, group in batches.items() if key}
    mean_all = sum(r["latency_s"] for r in records) / len(records)
    if not timed:
        return {"seconds_per_query": mean_all, "cpu_seconds_per_query": None, "busy_share": None, "method": "mean"}
    quiet = [group for group in timed.values() if (group[0].get("others_cores") or 0.0) <= BUSY_CORES]
    busy_share = 1 - sum(len(g) for g in quiet) / sum(len(g) for g in timed.values())
    cpu = _mean([r.get("cpu_s") for g in (quiet or timed.values()) for r in g])
    if not quiet:
        return {"seconds_per_query": mean_all, "cpu_seconds_per_query": cpu, "busy_share": busy_share,
                "method": "mean of busy batches"}
    per_batch = [sum(r["latency_s"] for r in g) / len(g) for g in quiet]
    if len(per_batch) >= 3:
        return {"seconds_per_query": statistics.median(per_batch), "cpu_seconds_per_query": cpu,
                "busy_share": busy_share, "method": f"median of {len(per_batch)} quiet batches"}
    quiet_records = [r for g in quiet for r in g]
    return {"seconds_per_query": sum(r["latency_s"] for r in quiet_records) / len(quiet_records),
            "cpu_seconds_per_query": cpu, "busy_share": busy_share, "method": f"mean of {len(quiet)} quiet batches"}


def _mean(values: list) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return sum(numbers) / len(numbers) if numbers else None
