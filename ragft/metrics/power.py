"""How many questions a study needs: power and sample size for paired comparisons.

A study of 30 questions cannot tell a 0.05 difference in token F1 from noise, and saying so is
more useful than a verdict. Both estimates below treat the per-question differences of two
variants as a paired t-test would (statsmodels' ``TTestPower``), from their mean and standard
deviation — observed in a finished study, or assumed in ``ragft study --plan``:

* ``questions_to_detect``: questions needed to show a difference of ``difference`` at level
  ``alpha`` (two-sided) with probability ``power``.
* ``questions_for_non_inferiority``: questions needed to show a variant whose true difference
  is ``difference`` is no worse than ``-margin`` (one-sided), the test behind "as good as".

``alpha`` should already be divided by the number of comparisons (a Bonferroni bound on Holm).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

MAX_QUESTIONS = 1_000_000  # past this, "more questions" is not the answer


def questions_to_detect(sd: float, difference: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Paired questions needed to detect ``difference`` (two-sided); None when it cannot be detected."""
    if difference == 0:
        return None
    return _solve(abs(difference) / sd if sd > 0 else math.inf, alpha, power, "two-sided")


def questions_for_non_inferiority(sd: float, difference: float, margin: float, alpha: float = 0.05,
                                  power: float = 0.8) -> int | None:
    """Paired questions needed to show ``difference`` > −``margin``; None when it is beyond the margin."""
    distance = difference + margin
    if distance <= 0:
        return None
    return _solve(distance / sd if sd > 0 else math.inf, alpha, power, "larger")


def questions_to_decide(differences: Sequence[float], margin: float, alpha: float = 0.05,
                        power: float = 0.8) -> int | None:
    """Questions after which this pair is likely decided either way — as good within the margin,
    or different — assuming the observed mean and spread of the per-question differences hold."""
    values = np.asarray(differences, dtype=float)
    if values.size < 2:
        return None
    mean, sd = float(values.mean()), float(values.std(ddof=1))
    options = [questions_for_non_inferiority(sd, mean, margin, alpha, power),
               questions_to_detect(sd, mean, alpha, power)]
    options = [n for n in options if n is not None]
    return min(options) if options else None


def _solve(effect_size: float, alpha: float, power: float, alternative: str) -> int | None:
    from statsmodels.stats.power import TTestPower

    if math.isinf(effect_size):
        return 2
    if effect_size <= 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels warns on convergence at extreme sizes
        try:
            n = TTestPower().solve_power(effect_size=effect_size, alpha=alpha, power=power, alternative=alternative)
        except (ValueError, RuntimeError):
            return None
    n = float(np.atleast_1d(n)[0])
    if not math.isfinite(n) or n > MAX_QUESTIONS:
        return None
    return max(2, math.ceil(n))
