"""Bootstrap intervals, paired tests and multiple-comparison correction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ragft.errors import ConfigError, RagftError
from ragft.metrics import stats


def _scores(mean: float, n: int = 60, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(mean, 0.15, n), 0, 1)


def test_bootstrap_ci_brackets_the_mean():
    values = _scores(0.5)
    mean, low, high = stats.bootstrap_ci(values, n_resamples=2000)
    assert mean == pytest.approx(values.mean())
    assert low < mean < high
    # roughly mean ± 1.96 standard errors
    half_width = 1.96 * values.std(ddof=1) / math.sqrt(values.size)
    assert high - low == pytest.approx(2 * half_width, rel=0.2)


def test_bootstrap_ci_is_reproducible_with_a_seed():
    values = _scores(0.5)
    assert stats.bootstrap_ci(values, n_resamples=1000, seed=3) == stats.bootstrap_ci(values, n_resamples=1000, seed=3)


def test_bootstrap_ci_handles_degenerate_input():
    assert stats.bootstrap_ci([1.0, 1.0, 1.0]) == (1.0, 1.0, 1.0)
    mean, low, high = stats.bootstrap_ci([0.7])
    assert mean == 0.7 and math.isnan(low) and math.isnan(high)
    # almost-constant 0/1 scores make BCa fail; the percentile interval takes over
    mean, low, high = stats.bootstrap_ci([1.0] * 19 + [0.0], n_resamples=1000)
    assert 0 <= low <= mean <= high <= 1


def test_bootstrap_ci_rejects_bad_input():
    with pytest.raises(RagftError, match="non-empty"):
        stats.bootstrap_ci([])
    with pytest.raises(RagftError, match="NaN"):
        stats.bootstrap_ci([0.1, float("nan")])
    with pytest.raises(ConfigError, match="confidence"):
        stats.bootstrap_ci([0.1, 0.2], confidence=95)


def test_paired_bootstrap_finds_a_real_difference():
    a = _scores(0.4)
    b = np.clip(a + 0.1 + np.random.default_rng(2).normal(0, 0.05, a.size), 0, 1)
    result = stats.paired_bootstrap(a, b, n_resamples=2000, names=("RAG", "fine-tune"))
    assert result.difference == pytest.approx((b - a).mean())
    assert 0 < result.low < result.difference < result.high
    assert result.significant and result.p_value < 0.001
    assert result.describe().startswith("fine-tune is better than RAG by 0.")


def test_paired_bootstrap_without_a_difference():
    a = _scores(0.5, seed=4)
    b = a + np.random.default_rng(5).normal(0, 0.01, a.size)  # noise only
    result = stats.paired_bootstrap(a, b, n_resamples=2000)
    assert result.low < 0 < result.high
    assert not result.significant
    assert result.describe().startswith("no significant difference")


def test_paired_bootstrap_degenerate_cases():
    same = stats.paired_bootstrap([0.2, 0.4, 0.6], [0.2, 0.4, 0.6])
    assert (same.difference, same.p_value, same.low, same.high) == (0.0, 1.0, 0.0, 0.0)
    single = stats.paired_bootstrap([0.2], [0.9])
    assert single.difference == pytest.approx(0.7) and single.p_value == 1.0 and not single.significant
    with pytest.raises(RagftError, match="same questions"):
        stats.paired_bootstrap([0.1, 0.2], [0.1])


def test_permutation_test_is_exact_for_a_few_questions():
    # B wins on all 5 questions: of the 2^5 sign patterns only 2 are as extreme → p = 2/32
    a = [0.1, 0.2, 0.3, 0.4, 0.5]
    b = [0.3, 0.4, 0.5, 0.6, 0.7]
    result = stats.paired_permutation_test(a, b)
    assert result.difference == pytest.approx(0.2)
    assert result.p_value == pytest.approx(2 / 32)
    assert result.low is None and result.test == "paired permutation"


def test_permutation_test_agrees_with_bootstrap_on_a_clear_win():
    a = _scores(0.3, seed=6)
    b = np.clip(a + 0.15, 0, 1)
    assert stats.paired_permutation_test(a, b, n_resamples=2000).significant
    assert not stats.paired_permutation_test(a, a + 0.0, n_resamples=2000).significant


def test_describe_wording():
    b_better = stats.Comparison(mean_a=0.3, mean_b=0.42, difference=0.12, p_value=0.003, low=0.05, high=0.19)
    assert b_better.describe() == "B is better than A by 0.12 (95% CI 0.05–0.19, p=0.003)"
    a_better = stats.Comparison(mean_a=0.42, mean_b=0.3, difference=-0.12, p_value=0.0001, low=-0.19, high=-0.05)
    assert a_better.describe() == "A is better than B by 0.12 (95% CI 0.05–0.19, p<0.001)"
    neither = stats.Comparison(mean_a=0.3, mean_b=0.31, difference=0.01, p_value=0.41)
    assert neither.describe() == "no significant difference between A and B (p=0.410)"
    no_ci = stats.Comparison(mean_a=0.3, mean_b=0.5, difference=0.2, p_value=0.01)
    assert no_ci.describe() == "B is better than A by 0.20 (p=0.010)"


def test_holm_bonferroni_by_hand():
    # sorted 0.01, 0.02, 0.03, 0.5 → ×4, ×3, ×2, ×1 = 0.04, 0.06, 0.06, 0.5 (kept non-decreasing)
    adjusted = stats.holm_bonferroni([0.03, 0.5, 0.01, 0.02])
    assert adjusted == pytest.approx([0.06, 0.5, 0.04, 0.06])
    assert stats.holm_bonferroni([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert stats.holm_bonferroni([]) == []
    with pytest.raises(RagftError):
        stats.holm_bonferroni([1.5])


def test_holm_correct_updates_significance():
    comparisons = [
        stats.Comparison(mean_a=0, mean_b=0.1, difference=0.1, p_value=0.02),
        stats.Comparison(mean_a=0, mean_b=0.1, difference=0.1, p_value=0.04),
    ]
    corrected = stats.holm_correct(comparisons)
    assert [c.p_value for c in corrected] == pytest.approx([0.04, 0.04])
    assert all(c.significant for c in corrected)
    corrected = stats.holm_correct([*comparisons, stats.Comparison(0, 0, 0, p_value=0.9)])
    assert [c.significant for c in corrected] == [False, False, False]  # 0.06, 0.08, 0.9
