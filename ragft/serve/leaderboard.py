"""The arena's leaderboard: win rates with Wilson 95% intervals and Bradley–Terry ratings.

A tie counts as half a win for each side. Bradley–Terry strengths are fitted with Hunter's (2004)
MM iterations; every variant also plays one win and one loss against a fixed virtual opponent of
average strength, a weak prior that keeps a variant that never lost from an infinite rating.
Ratings are shown on the Elo scale (400·log10 strength, centred on 1000).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

Z95 = 1.959963984540054


@dataclass
class Standing:
    variant: str
    games: int
    wins: int
    losses: int
    ties: int
    win_rate: float
    ci_low: float
    ci_high: float
    rating: float


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def leaderboard(rows: list[dict]) -> list[Standing]:
    """Standings from pairwise rows (variant_a, variant_b, choice), best rating first."""
    record: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # wins, losses, ties
    games: list[tuple[str, str, float]] = []  # (a, b, score of a)
    for row in rows:
        a, b = row["variant_a"], row["variant_b"]
        if not a or not b or a == b:
            continue
        score = {"a": 1.0, "b": 0.0, "tie": 0.5}[row["choice"]]
        games.append((a, b, score))
        for variant, result in ((a, score), (b, 1.0 - score)):
            record[variant][0 if result == 1.0 else 1 if result == 0.0 else 2] += 1
    ratings = bradley_terry(games, list(record))
    standings = []
    for variant, (wins, losses, ties) in record.items():
        n = wins + losses + ties
        low, high = wilson_interval(wins + 0.5 * ties, n)
        standings.append(Standing(variant, n, wins, losses, ties, (wins + 0.5 * ties) / n, low, high,
                                  ratings[variant]))
    return sorted(standings, key=lambda s: -s.rating)


def bradley_terry(games: list[tuple[str, str, float]], players: list[str], iterations: int = 200) -> dict[str, float]:
    if not players:
        return {}
    strength = {p: 1.0 for p in players}
    wins = defaultdict(float)
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for a, b, score in games:
        wins[a] += score
        wins[b] += 1.0 - score
        pairs[(a, b)] += 1
    for _ in range(iterations):
        updated = {}
        for p in players:
            denominator = 2.0 / (strength[p] + 1.0)  # the prior: two games against strength 1
            for (a, b), n in pairs.items():
                if p in (a, b):
                    other = b if p == a else a
                    denominator += n / (strength[p] + strength[other])
            updated[p] = (wins[p] + 1.0) / denominator
        strength = updated
    centre = sum(math.log10(s) for s in strength.values()) / len(strength)
    return {p: 1000 + 400 * (math.log10(s) - centre) for p, s in strength.items()}
