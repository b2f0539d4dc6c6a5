"""Uncertainty and significance for per-question scores.

A benchmark of a few dozen questions gives wide error bars, so every mean the study reports
comes with a bootstrap confidence interval, and every A-vs-B claim with a paired test (both
systems answer the same questions, so pairing removes the question-difficulty noise). With
several comparisons at once, correct the p-values with ``holm_bonferroni``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from ragft.errors import ConfigError, RagftError


def _as_scores(values: Sequence[float], what: str = "values") -> np.ndarray:
    scores = np.asarray(values, dtype=float)
    if scores.ndim != 1 or scores.size == 0:
        raise RagftError(f"need a non-empty list of per-question scores for {what}")
    if not np.all(np.isfinite(scores)):
        raise RagftError(f"{what} contain NaN or infinite scores; score every question first")
    return scores


def _as_pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    a_scores, b_scores = _as_scores(a, "A"), _as_scores(b, "B")
    if a_scores.size != b_scores.size:
        raise RagftError(f"paired tests need the same questions: A has {a_scores.size} scores, B {b_scores.size}")
    return a_scores, b_scores


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be between 0 and 1, got {confidence}")


def _bootstrap_mean(scores: np.ndarray, n_resamples: int, confidence: float, seed: int):
    """scipy's bootstrap of the mean, BCa first and percentile when BCa cannot be computed.

    BCa corrects for skew (scores bounded at 0 and 1 are skewed) but returns NaN with a
    warning when the resamples are nearly degenerate, e.g. a score that is almost always 1.
    """
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the NaN itself tells us to fall back
            result = stats.bootstrap(
                (scores,),
                np.mean,
                n_resamples=n_resamples,
                confidence_level=confidence,
                method=method,
                vectorized=True,
                # random_state (not rng) so that scipy versions before 1.15 work too.
                random_state=np.random.default_rng(seed),
            )
        interval = result.confidence_interval
        if np.isfinite(interval.low) and np.isfinite(interval.high):
            return result
    return result


def bootstrap_ci(
    values: Sequence[float], n_resamples: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of the scores with a bootstrap confidence interval: ``(mean, low, high)``.

    Constant scores give a zero-width interval ``(c, c, c)``. With a single score the spread
    cannot be estimated, so both bounds are NaN rather than a misleadingly narrow interval.
    """
    _check_confidence(confidence)
    scores = _as_scores(values)
    mean = float(scores.mean())
    if scores.size < 2:
        return mean, float("nan"), float("nan")
    if np.all(scores == scores[0]):  # every resample has the same mean
        return mean, mean, mean
    interval = _bootstrap_mean(scores, n_resamples, confidence, seed).confidence_interval
    return mean, float(interval.low), float(interval.high)


@dataclass(frozen=True)
class Comparison:
    """System B compared with system A on the same questions; ``difference`` is mean(B − A)."""

    mean_a: float
    mean_b: float
    difference: float
    p_value: float
    low: float | None = None  # confidence interval of the difference, when the test gives one
    high: float | None = None
    confidence: float = 0.95
    alpha: float = 0.05
    name_a: str = "A"
    name_b: str = "B"
    test: str = ""

    @property
    def significant(self) -> bool:
        """Whether the difference is significant at level ``alpha`` (after any correction)."""
        return self.p_value < self.alpha

    def describe(self) -> str:
        """One plain sentence, e.g. "B is better than A by 0.12 (95% CI 0.05–0.19, p=0.003)"."""
        if not self.significant:
            return f"no significant difference between {self.name_a} and {self.name_b} ({_format_p(self.p_value)})"
        b_wins = self.difference > 0
        better, worse = (self.name_b, self.name_a) if b_wins else (self.name_a, self.name_b)
        details = [_format_p(self.p_value)]
        if self.low is not None and self.high is not None:
            # The interval is for B − A; when A wins, report it for A − B so it is positive.
            low, high = (self.low, self.high) if b_wins else (-self.high, -self.low)
            details.insert(0, f"{self.confidence:.0%} CI {low:.2f}–{high:.2f}")
        return f"{better} is better than {worse} by {abs(self.difference):.2f} ({', '.join(details)})"


def _format_p(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
    alpha: float = 0.05,
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Bootstrap the per-question differences B − A: mean difference, CI and two-sided p-value.

    The p-value is twice the share of bootstrap means on the far side of zero, with the usual
    +1 so that it is never exactly 0 from a finite number of resamples.
    """
    _check_confidence(confidence)
    a_scores, b_scores = _as_pairs(a, b)
    differences = b_scores - a_scores
    comparison = Comparison(
        mean_a=float(a_scores.mean()),
        mean_b=float(b_scores.mean()),
        difference=float(differences.mean()),
        p_value=1.0,
        confidence=confidence,
        alpha=alpha,
        name_a=names[0],
        name_b=names[1],
        test="paired bootstrap",
    )
    if differences.size < 2:  # one question: no spread to resample, no evidence either way
        return comparison
    if np.all(differences == 0):  # identical scores: nothing to resample
        return replace(comparison, low=0.0, high=0.0)
    result = _bootstrap_mean(differences, n_resamples, confidence, seed)
    resampled = result.bootstrap_distribution
    beyond_zero = min(np.sum(resampled <= 0), np.sum(resampled >= 0))
    p_value = min(1.0, 2 * (beyond_zero + 1) / (resampled.size + 1))
    interval = result.confidence_interval
    return replace(comparison, p_value=float(p_value), low=float(interval.low), high=float(interval.high))


def paired_permutation_test(
    a: Sequence[float],
    b: Sequence[float],
    n_resamples: int = 10_000,
    seed: int = 0,
    alpha: float = 0.05,
    names: tuple[str, str] = ("A", "B"),
) -> Comparison:
    """Two-sided paired permutation test of mean(B − A): swaps A and B within each question.

    With few questions scipy enumerates every swap pattern, so the p-value is exact.
    """
    a_scores, b_scores = _as_pairs(a, b)

    def mean_difference(x, y, axis):
        return np.mean(y - x, axis=axis)

    result = stats.permutation_test(
        (a_scores, b_scores),
        mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        random_state=np.random.default_rng(seed),
    )
    return Comparison(
        mean_a=float(a_scores.mean()),
        mean_b=float(b_scores.mean()),
        difference=float(result.statistic),
        p_value=float(min(1.0, result.pvalue)),
        alpha=alpha,
        name_a=names[0],
        name_b=names[1],
        test="paired permutation",
    )


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the input order.

    Compare each adjusted p-value with the family-wise alpha as usual. The k-th smallest of m
    p-values is multiplied by (m − k + 1), then made non-decreasing so that the order of
    evidence is kept.
    """
    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return []
    if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
        raise RagftError("p-values must lie between 0 and 1")
    order = np.argsort(p, kind="stable")
    multipliers = p.size - np.arange(p.size)
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(p[order] * multipliers))
    adjusted = np.empty_like(p)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()


def holm_correct(comparisons: Sequence[Comparison]) -> list[Comparison]:
    """The same comparisons with Holm–Bonferroni adjusted p-values (so ``significant`` updates)."""
    adjusted = holm_bonferroni([comparison.p_value for comparison in comparisons])
    return [replace(comparison, p_value=p_value) for comparison, p_value in zip(comparisons, adjusted)]


def non_inferiority(
    reference: Sequence[float],
    candidate: Sequence[float],
    margin: float,
    n_resamples: int = 10_000,
    seed: int = 0,
) -> float:
    """One-sided p-value that ``candidate`` is *not worse* than ``reference`` by ``margin`` or more.

    H0: mean(candidate − reference) ≤ −margin; a small p says the candidate is as good as the
    reference within the margin. "Not significantly worse" is no such evidence: with a handful
    of questions nothing is significant, so only this test may call two variants "as good".
    The bootstrap distribution of the mean difference is the same as ``paired_bootstrap``'s, so
    the two tests agree with the confidence intervals shown beside them.
    """
    if margin < 0:
        raise ConfigError(f"the equivalence margin must be >= 0, got {margin}")
    ref_scores, cand_scores = _as_pairs(reference, candidate)
    differences = cand_scores - ref_scores
    if differences.size < 2 or np.all(differences == differences[0]):
        # No spread: the (constant) difference either clears the margin or it does not.
        return 0.0 if differences.size >= 2 and differences[0] > -margin else 1.0
    resampled = _bootstrap_mean(differences, n_resamples, 0.95, seed).bootstrap_distribution
    at_or_below = np.sum(resampled <= -margin)
    return float(min(1.0, (at_or_below + 1) / (resampled.size + 1)))
