"""The cost model, checked against the KDD 2024 tutorial's published figures to the cent."""

from __future__ import annotations

import pytest

from ragft.errors import ConfigError
from ragft.study import cost

# The tutorial's stated assumptions (lab 3, "prices illustrative"), copied here so the test runs
# without ../shared: see shared/datasets/README.md, section "Their cost model".
USD_PER_TRAINING_TOKEN = 0.00799
TRAINING_TOKENS = 1_000_000
STORAGE_USD = 1.95  # per training run, per month of serving, and per month for the fine-tuned model
SERVING_USD_PER_HOUR = 21.18  # also the price of the one evaluation hour per run
EVAL_HOURS = 1
RETRIEVAL_USD_PER_HOUR = 1.40

# Their published results.
TRAINING_RUN = 8_013.13
SERVING_MONTH = 15_759.87
RETRIEVAL_MONTH = 1_041.60
TOTAL_RAG = 201_617.64
TOTAL_FINE_TUNE = {12: 285_299.40, 4: 221_194.36, 2: 205_168.10, 1: 197_154.97}

CENT = 0.005


def tutorial_serving() -> cost.Serving:
    return cost.Serving(hardware_usd_per_hour=SERVING_USD_PER_HOUR, hours_per_month=744, fixed_usd_per_month=STORAGE_USD)


def tutorial_rag() -> cost.Variant:
    return cost.Variant(name="RAG", serving=tutorial_serving(), retrieval_usd_per_hour=RETRIEVAL_USD_PER_HOUR)


def tutorial_fine_tune(retrains_per_year: int) -> cost.Variant:
    training = cost.Training(
        usd_per_training_token=USD_PER_TRAINING_TOKEN,
        training_tokens=TRAINING_TOKENS,
        storage_usd=STORAGE_USD,
        eval_hours=EVAL_HOURS,
        eval_usd_per_hour=SERVING_USD_PER_HOUR,
    )
    return cost.Variant(
        name=f"fine-tune ×{retrains_per_year}/year",
        serving=tutorial_serving(),
        model_storage_usd_per_month=STORAGE_USD,
        training=training,
        retrains_per_year=retrains_per_year,
    )


def test_tutorial_training_run_and_monthly_figures():
    assert tutorial_fine_tune(1).training.cost_per_run == pytest.approx(TRAINING_RUN, abs=CENT)
    rag = tutorial_rag()
    assert cost.recurring_monthly_cost(rag) == pytest.approx(SERVING_MONTH + RETRIEVAL_MONTH, abs=CENT)
    assert cost.recurring_monthly_cost(tutorial_fine_tune(1)) == pytest.approx(SERVING_MONTH + STORAGE_USD, abs=CENT)


def test_tutorial_rag_twelve_month_total():
    assert cost.cost_report(tutorial_rag()).total == pytest.approx(TOTAL_RAG, abs=CENT)


@pytest.mark.parametrize("retrains_per_year", sorted(TOTAL_FINE_TUNE))
def test_tutorial_fine_tune_twelve_month_totals(retrains_per_year):
    report = cost.cost_report(tutorial_fine_tune(retrains_per_year))
    assert report.training_runs == retrains_per_year
    assert report.total == pytest.approx(TOTAL_FINE_TUNE[retrains_per_year], abs=CENT)


def test_cumulative_series_and_training_months():
    quarterly = tutorial_fine_tune(4)
    assert cost.training_months(quarterly) == [1, 4, 7, 10]
    assert cost.training_months(tutorial_fine_tune(2), months=24) == [1, 7, 13, 19]
    spend = cost.monthly_costs(quarterly)
    assert spend[0] == pytest.approx(SERVING_MONTH + STORAGE_USD + TRAINING_RUN, abs=CENT)
    assert spend[1] == pytest.approx(SERVING_MONTH + STORAGE_USD, abs=CENT)
    cumulative = cost.cumulative_costs(quarterly)
    assert len(cumulative) == 12 and cumulative == sorted(cumulative)
    assert cumulative[-1] == pytest.approx(TOTAL_FINE_TUNE[4], abs=CENT)


def test_break_even_against_rag():
    # Yearly fine-tuning saves $1,039.65 a month over RAG after an $8,013.13 run: it has paid
    # for itself by the end of month 8 (7 × 1,039.65 = 7,277.55 < 8,013.13 < 8,317.20).
    assert cost.break_even(tutorial_rag(), tutorial_fine_tune(1)) == 8
    assert cost.break_even(tutorial_fine_tune(1), tutorial_rag()) == 8
    # Retraining every 6 months pays a second run in month 7 and never catches up in a year.
    assert cost.break_even(tutorial_rag(), tutorial_fine_tune(2)) is None
    # Nor over two years: each run costs more than the six months of savings that follow it.
    assert cost.break_even(tutorial_rag(), tutorial_fine_tune(2), months=24) is None
    assert cost.break_even(tutorial_rag(), tutorial_rag()) is None


def test_cost_per_thousand_queries_and_api_billing():
    api = cost.Variant(
        name="API RAG",
        serving=cost.Serving(hours_per_month=0, api_usd_per_1k_input_tokens=0.5, api_usd_per_1k_output_tokens=1.5),
        workload=cost.Workload(queries_per_month=10_000, input_tokens_per_query=2_000, output_tokens_per_query=100),
    )
    # per query: 2 × $0.5 + 0.1 × $1.5 = $1.15 → $11,500 a month, $1,150 per 1,000 queries
    report = cost.cost_report(api)
    assert report.recurring_per_month == pytest.approx(11_500)
    assert report.per_1k_queries == pytest.approx(1_150)
    assert cost.cost_report(tutorial_rag()).per_1k_queries is None  # no traffic given


def test_busy_time_billing_from_measured_seconds():
    on_demand = cost.Variant(
        name="scale to zero",
        serving=cost.Serving(hardware_usd_per_hour=3.6, hours_per_month=None),
        workload=cost.Workload(queries_per_month=36_000, seconds_per_query=2.0),
    )
    assert cost.serving_hours(on_demand) == pytest.approx(20.0)
    assert cost.recurring_monthly_cost(on_demand) == pytest.approx(72.0)


def test_cost_from_measurements():
    # 2 s at $3.60/h = $0.002 a query → $2 per 1,000
    assert cost.cost_from_measurements(seconds_per_query=2.0, usd_per_hour=3.6) == pytest.approx(2.0)
    # 1,500 tokens at $0.000002 = $0.003 a query → $3 per 1,000
    assert cost.cost_from_measurements(tokens_per_query=1500, usd_per_token=2e-6) == pytest.approx(3.0)
    both = cost.cost_from_measurements(seconds_per_query=2.0, usd_per_hour=3.6, tokens_per_query=1500, usd_per_token=2e-6)
    assert both == pytest.approx(5.0)
    with pytest.raises(ConfigError, match="seconds_per_query"):
        cost.cost_from_measurements()
    with pytest.raises(ConfigError, match="usd_per_hour must be >= 0"):
        cost.cost_from_measurements(seconds_per_query=1.0, usd_per_hour=-1)


def test_invalid_parameters_are_config_errors():
    with pytest.raises(ConfigError, match="hardware_usd_per_hour"):
        cost.Serving(hardware_usd_per_hour=-1)
    with pytest.raises(ConfigError, match="no training cost"):
        cost.Variant(name="ft", retrains_per_year=4)
    with pytest.raises(ConfigError, match="months"):
        cost.monthly_costs(tutorial_rag(), months=0)
