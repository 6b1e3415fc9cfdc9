"""Ranking math for best-of-N: order candidates by one metric or by weighted z-scores.

A :class:`Ranking` is one metric in its own direction, or a weighted sum of several metrics, each
first standardised within the group being ranked (z-score), so weights compare like with like
whatever the metric's scale; a negative weight rewards lower values (``sharpness=1,banding=-1``).
A metric whose spread within a group is below its registry ``resolution`` (numeric noise) counts 0
for that group. :func:`rank_scores` turns a group's metric values into one score per candidate;
the folder workflow that scores files and places the best ones is :mod:`enhance.picking`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["MAX_WEIGHT", "Ranking", "check_weight", "group_stats", "parse_weights", "rank_scores", "ranking_for"]

#: the largest weight accepted: weights are relative, and a bound keeps every weighted sum of
#: z-scores finite (a z-score within a group of n is at most sqrt(n - 1))
MAX_WEIGHT = 1e6


@dataclass(frozen=True)
class Ranking:
    """How candidates are ordered: metric name → signed weight (one metric: its direction)."""

    weights: dict[str, float]
    standardise: bool

    @property
    def metrics(self) -> list[str]:
        return list(self.weights)

    def describe(self) -> str:
        if not self.standardise:
            ((name, weight),) = self.weights.items()
            return f"{name} ({'higher' if weight > 0 else 'lower'} is better)"
        return "weighted z-scores: " + ", ".join(f"{n}={w:g}" for n, w in self.weights.items())


def parse_weights(text: str) -> dict[str, float]:
    """``"sharpness=1,banding=-1"`` → ``{"sharpness": 1.0, "banding": -1.0}``.

    Raises:
        ConfigError: a malformed item, or a weight that is zero, not finite or too large.
    """
    weights: dict[str, float] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, sep, value = item.partition("=")
        try:
            weight = float(value) if sep else float("nan")
        except ValueError:
            weight = float("nan")
        if not name.strip():
            weight = float("nan")
        weights[name.strip()] = check_weight(item, weight)
    if not weights:
        raise ConfigError("--weights is empty; give e.g. sharpness=1,banding=-1")
    return weights


def check_weight(item: str, weight: float) -> float:
    """``weight`` when it is a usable weight (finite, non-zero, at most :data:`MAX_WEIGHT` in size).

    Raises:
        ConfigError: naming ``item`` (the ``NAME=NUMBER`` text) and what to give instead.
    """
    if not math.isfinite(weight) or weight == 0:
        raise ConfigError(f"--weights: '{item}' is not NAME=NUMBER (finite, non-zero), e.g. sharpness=1,banding=-1")
    if abs(weight) > MAX_WEIGHT:
        raise ConfigError(
            f"--weights: '{item}' is too large: weights are relative (sharpness=2,banding=-1 ranks like "
            f"sharpness=2000,banding=-1000); keep each within ±{MAX_WEIGHT:g}"
        )
    return weight


def ranking_for(metric: str | None = None, weights: str | Mapping[str, float] | None = None) -> Ranking:
    """The ranking from ``--metric`` or ``--weights`` (default: sharpness).

    Raises:
        ConfigError: both given, or an unknown, unavailable or full-reference metric.
    """
    from .registry import get_metric, validate_metrics

    if metric is not None and weights is not None:
        raise ConfigError("give either --metric or --weights, not both")
    if weights is not None:
        if isinstance(weights, str):
            parsed = parse_weights(weights)
        else:
            parsed = {name: check_weight(f"{name}={weight}", float(weight)) for name, weight in weights.items()}
        validate_metrics(list(parsed), kind="no-reference", where="--weights")
        return Ranking(parsed, standardise=True)
    name = metric or "sharpness"
    validate_metrics([name], kind="no-reference", where="--metric")
    return Ranking({name: 1.0 if get_metric(name).higher_is_better else -1.0}, standardise=False)


def group_stats(values: list[dict[str, float | None]], ranking: Ranking) -> dict[str, tuple[float, float]]:
    """Each metric's mean and spread within the group; the spread is 0 when it is below the
    metric's ``resolution`` (numeric noise such as banding 0 vs 1e-4), so that metric does not
    count for this group instead of turning noise into a full z-score."""
    from .registry import get_metric

    stats = {}
    for name in ranking.metrics:
        column = [v[name] for v in values if v.get(name) is not None]
        mean = statistics.fmean(column) if column else 0.0
        spread = statistics.pstdev(column) if len(column) > 1 else 0.0
        stats[name] = (mean, spread if spread >= get_metric(name).resolution else 0.0)
    return stats


def rank_scores(values: list[dict[str, float | None]], ranking: Ranking) -> list[float | None]:
    """One score per candidate (higher is better); None when a metric is missing or the score is
    not finite (a metric that returned inf), so such a candidate is left unranked rather than
    poisoning its group's ranking and the report."""
    stats = group_stats(values, ranking)
    scores: list[float | None] = []
    for v in values:
        if any(v.get(n) is None for n in ranking.metrics):
            scores.append(None)
            continue
        if not ranking.standardise:
            ((name, sign),) = ranking.weights.items()
            value = sign * float(v[name])  # type: ignore[arg-type]
            scores.append(value if math.isfinite(value) else None)
            continue
        total = 0.0
        for name, weight in ranking.weights.items():
            mean, spread = stats[name]
            total += weight * ((float(v[name]) - mean) / spread if spread > 0 else 0.0)  # type: ignore[arg-type]
        scores.append(total if math.isfinite(total) else None)
    return scores
