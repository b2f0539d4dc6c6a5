"""What a RAG or fine-tuned deployment costs over time, from stated prices and measured use.

A ``Variant`` is one way to serve the model (RAG, fine-tuned with a retraining cadence, both…).
Its costs split into what recurs every month (serving hardware or API tokens, retrieval
hosting, model storage) and what comes with each training run (training, its storage and an
evaluation pass). ``cost_report`` turns a variant into cost per 1,000 queries, a monthly
figure, the 12-month total and the cumulative month-by-month series; ``break_even`` finds when
one variant's cumulative cost overtakes another's.

How this reproduces the KDD 2024 tutorial's published figures (lab 3, prices illustrative):

* One training run = $0.00799/token × 1,000,000 tokens + $1.95 storage + 1 evaluation hour ×
  $21.18/h = $7,990 + $1.95 + $21.18 = **$8,013.13**.
* Serving, both approaches = $21.18/h × 744 h (a 31-day month) + $1.95 fixed =
  **$15,759.87 a month**.
* RAG adds retrieval hosting $1.40/h × 744 h = $1,041.60 a month, so
  12 × ($15,759.87 + $1,041.60) = **$201,617.64**.
* Fine-tuning adds $1.95 a month of model storage *on top of* the $1.95 storage inside each
  training run, and pays one full training run per retraining:
  12 × ($15,759.87 + $1.95) + N × $8,013.13 with N runs a year gives
  N = 12 (monthly) **$285,299.40**, N = 4 (quarterly) **$221,194.36**,
  N = 2 (every 6 months) **$205,168.10** and N = 1 (yearly) **$197,154.97**.
  The yearly run is the initial one: there is no separate "first training" charge.

The month-by-month series puts each run at the start of its period (months 1, 4, 7, 10 for
quarterly), which the tutorial's totals do not pin down but break-even months depend on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ragft.errors import ConfigError

HOURS_PER_MONTH = 744.0  # 31 days × 24 h, the tutorial's month: a conservative always-on bill
MONTHS_PER_YEAR = 12


def _check_non_negative(record) -> None:
    """Every numeric field of a cost record must be >= 0; say which one is not."""
    for spec in fields(record):
        value = getattr(record, spec.name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not value >= 0:
            raise ConfigError(f"{type(record).__name__}.{spec.name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Serving:
    """Serving the model: a rented machine billed by the hour and/or an API billed by token.

    ``hours_per_month`` is how long the machine is billed. Leave it None to bill only busy
    time, measured seconds per query × queries (serverless or scale-to-zero hosting).
    """

    hardware_usd_per_hour: float = 0.0
    hours_per_month: float | None = HOURS_PER_MONTH
    fixed_usd_per_month: float = 0.0  # e.g. the serving disk, billed whatever the traffic
    api_usd_per_1k_input_tokens: float = 0.0
    api_usd_per_1k_output_tokens: float = 0.0

    def __post_init__(self) -> None:
        _check_non_negative(self)


@dataclass(frozen=True)
class Training:
    """One (re)training run: hosted per-token pricing or GPU time, plus storage and evaluation."""

    usd_per_training_token: float = 0.0
    training_tokens: float = 0.0
    gpu_hours: float = 0.0
    gpu_usd_per_hour: float = 0.0
    storage_usd: float = 0.0  # storing the run's artefacts, charged once per run
    eval_hours: float = 0.0
    eval_usd_per_hour: float = 0.0

    def __post_init__(self) -> None:
        _check_non_negative(self)

    @property
    def cost_per_run(self) -> float:
        """Dollars for one complete run: training, its storage and its evaluation."""
        training = self.usd_per_training_token * self.training_tokens + self.gpu_hours * self.gpu_usd_per_hour
        return training + self.storage_usd + self.eval_hours * self.eval_usd_per_hour


@dataclass(frozen=True)
class Workload:
    """Traffic and what one query uses, as measured by the benchmark."""

    queries_per_month: float = 0.0
    seconds_per_query: float = 0.0  # wall time of one answer on the serving hardware
    input_tokens_per_query: float = 0.0  # prompt tokens, retrieved context included
    output_tokens_per_query: float = 0.0

    def __post_init__(self) -> None:
        _check_non_negative(self)


@dataclass(frozen=True)
class Variant:
    """One deployment option and everything it pays for.

    ``retrains_per_year``: 12 monthly, 4 quarterly, 2 every six months, 1 yearly (the initial
    training only), 0 for no training at all (plain RAG).
    """

    name: str
    serving: Serving = field(default_factory=Serving)
    workload: Workload = field(default_factory=Workload)
    retrieval_usd_per_hour: float = 0.0  # vector store / retriever hosting, billed all month
    model_storage_usd_per_month: float = 0.0  # keeping fine-tuned weights
    training: Training | None = None
    retrains_per_year: int = 0

    def __post_init__(self) -> None:
        _check_non_negative(self)
        if self.retrains_per_year and self.training is None:
            raise ConfigError(f"variant {self.name!r} retrains {self.retrains_per_year}× a year but has no training cost")


@dataclass(frozen=True)
class CostReport:
    """A variant's costs over ``months`` months (all in US dollars)."""

    name: str
    months: int
    recurring_per_month: float  # serving + retrieval + storage, without training
    training_per_run: float
    training_runs: int
    total: float
    average_per_month: float  # total / months, training spread out
    per_1k_queries: float | None  # average monthly cost / queries; None without traffic
    cumulative: list[float]  # cumulative[m - 1] = spent by the end of month m


def serving_hours(variant: Variant) -> float:
    """Billed machine hours a month: fixed, or busy time from measured seconds per query."""
    if variant.serving.hours_per_month is not None:
        return variant.serving.hours_per_month
    return variant.workload.queries_per_month * variant.workload.seconds_per_query / 3600


def recurring_costs(variant: Variant) -> dict[str, float]:
    """Dollars billed every month whether or not the model is retrained, by what they pay for."""
    serving, workload = variant.serving, variant.workload
    api_per_query = (
        workload.input_tokens_per_query * serving.api_usd_per_1k_input_tokens
        + workload.output_tokens_per_query * serving.api_usd_per_1k_output_tokens
    ) / 1000
    return {
        "serving": serving.hardware_usd_per_hour * serving_hours(variant) + serving.fixed_usd_per_month,
        "api": api_per_query * workload.queries_per_month,
        "retrieval": variant.retrieval_usd_per_hour * HOURS_PER_MONTH,
        "storage": variant.model_storage_usd_per_month,
    }


def recurring_monthly_cost(variant: Variant) -> float:
    """Everything billed every month whether or not the model is retrained."""
    return sum(recurring_costs(variant).values())


def monthly_breakdown(variant: Variant, months: int = MONTHS_PER_YEAR) -> dict[str, float]:
    """Average dollars a month by what they pay for — the recurring costs plus training spread over
    the months — so a report can say which assumption drives a ranking (e.g. retrieval hosting
    billed around the clock)."""
    runs = len(training_months(variant, months)) if variant.training else 0
    training = variant.training.cost_per_run * runs / months if variant.training else 0.0
    return {**recurring_costs(variant), "training": training}


def training_months(variant: Variant, months: int = MONTHS_PER_YEAR) -> list[int]:
    """The 1-based months in which a training run is paid, runs at the start of each period.

    Runs are spread evenly over each year (run i of N falls in month ⌊12·i/N⌋ + 1) and the
    schedule repeats every year; more than 12 runs a year puts several in one month.
    """
    runs_per_year = variant.retrains_per_year
    first_year = [math.floor(MONTHS_PER_YEAR * run / runs_per_year) + 1 for run in range(runs_per_year)]
    years = math.ceil(months / MONTHS_PER_YEAR)
    schedule = [year * MONTHS_PER_YEAR + month for year in range(years) for month in first_year]
    return [month for month in schedule if month <= months]


def monthly_costs(variant: Variant, months: int = MONTHS_PER_YEAR) -> list[float]:
    """Dollars spent in each month: recurring costs plus any training runs that month."""
    if months < 1:
        raise ConfigError(f"months must be at least 1, got {months}")
    spend = [recurring_monthly_cost(variant)] * months
    run_cost = variant.training.cost_per_run if variant.training else 0.0
    for month in training_months(variant, months):
        spend[month - 1] += run_cost
    return spend


def cumulative_costs(variant: Variant, months: int = MONTHS_PER_YEAR) -> list[float]:
    """Running total of ``monthly_costs``: what has been spent by the end of each month."""
    totals, spent = [], 0.0
    for cost in monthly_costs(variant, months):
        spent += cost
        totals.append(spent)
    return totals


def cost_report(variant: Variant, months: int = MONTHS_PER_YEAR) -> CostReport:
    """The headline figures for one variant over ``months`` months."""
    cumulative = cumulative_costs(variant, months)
    total = cumulative[-1]
    queries = variant.workload.queries_per_month
    return CostReport(
        name=variant.name,
        months=months,
        recurring_per_month=recurring_monthly_cost(variant),
        training_per_run=variant.training.cost_per_run if variant.training else 0.0,
        training_runs=len(training_months(variant, months)),
        total=total,
        average_per_month=total / months,
        per_1k_queries=(total / months) / queries * 1000 if queries else None,
        cumulative=cumulative,
    )


def break_even(variant_a: Variant, variant_b: Variant, months: int = MONTHS_PER_YEAR) -> int | None:
    """First month (1-based) by whose end the variant dearer in month 1 is no longer dearer.

    None when their cumulative costs do not cross within ``months`` (or are equal from the
    start). E.g. a fine-tune trained once a year costs more than RAG at first and less per
    month afterwards; the answer is the month its extra training cost has been earned back.
    """
    return crossing_month(cumulative_costs(variant_a, months), cumulative_costs(variant_b, months))


def crossing_month(series_a: list[float], series_b: list[float]) -> int | None:
    """First month (1-based) at which ``series_a − series_b`` changes sign; None if it never does."""
    gaps = [a - b for a, b in zip(series_a, series_b)]
    if not gaps:
        return None
    first_sign = _sign(gaps[0])
    if first_sign == 0:
        return None
    for month, gap in enumerate(gaps, start=1):
        if _sign(gap) != first_sign:
            return month
    return None


def _sign(amount: float) -> int:
    # Differences under half a cent are float noise, not a crossing.
    return 0 if abs(amount) < 0.005 else (1 if amount > 0 else -1)


def cost_from_measurements(
    *,
    seconds_per_query: float = 0.0,
    usd_per_hour: float = 0.0,
    tokens_per_query: float = 0.0,
    usd_per_token: float = 0.0,
) -> float:
    """Dollars per 1,000 queries from measured use.

    Give wall seconds per query with the machine's $/hour (you pay for the time the machine is
    busy answering), and/or tokens per query with the price per token (API billing). Both parts
    add up when both are given.
    """
    measurements = dict(
        seconds_per_query=seconds_per_query,
        usd_per_hour=usd_per_hour,
        tokens_per_query=tokens_per_query,
        usd_per_token=usd_per_token,
    )
    for name, value in measurements.items():
        if not value >= 0:
            raise ConfigError(f"{name} must be >= 0, got {value}")
    if not seconds_per_query and not tokens_per_query:
        raise ConfigError("give seconds_per_query (with usd_per_hour) or tokens_per_query (with usd_per_token)")
    per_query = seconds_per_query / 3600 * usd_per_hour + tokens_per_query * usd_per_token
    return per_query * 1000
