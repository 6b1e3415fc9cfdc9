"""Weighted ranking of ``enhance pick``: within-group z-scores with a per-metric noise floor."""

from __future__ import annotations

from enhance.metrics.ranking import rank_scores, ranking_for
from enhance.metrics.registry import get_metric


def best(values: list[dict[str, float | None]], weights: str) -> int:
    scores = rank_scores(values, ranking_for(weights=weights))
    return max(range(len(values)), key=lambda i: scores[i] if scores[i] is not None else float("-inf"))


def test_noise_below_the_resolution_does_not_outweigh_a_real_difference() -> None:
    values: list[dict[str, float | None]] = [
        {"sharpness": 30, "banding": 0},
        {"sharpness": 40, "banding": 0},
        {"sharpness": 50, "banding": 1e-4},
    ]
    assert best(values, "sharpness=1,banding=-1") == 2


def test_a_spread_above_the_resolution_still_counts() -> None:
    values: list[dict[str, float | None]] = [
        {"sharpness": 30, "banding": 0},
        {"sharpness": 40, "banding": 0},
        {"sharpness": 50, "banding": 0.5},
    ]
    assert best(values, "sharpness=1,banding=-1") == 1


def test_every_builtin_metric_has_a_floor() -> None:
    names = ("sharpness", "banding", "entropy", "png_bpp", "niqe", "psnr", "psnr_y", "ssim", "ssim_y")
    assert all(get_metric(n).resolution > 0 for n in names)
