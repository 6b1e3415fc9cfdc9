"""How ``--engine ray`` sizes its actor pool and reads its options: no Ray needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from enhance.engines.ray_data import is_uri, plan_resources
from enhance.errors import ConfigError


def test_one_model_holding_actor_per_gpu_by_default() -> None:
    plan = plan_resources(cpus=64, gpus=4, device="auto", workers=None, gpus_per_worker=None)
    assert (plan.workers, plan.gpus, plan.device) == (4, 1.0, "cuda")
    half = plan_resources(cpus=64, gpus=4, device="auto", workers=None, gpus_per_worker=0.5)
    assert (half.workers, half.gpus) == (8, 0.5)


def test_cpu_actors_leave_a_cpu_for_decoding_and_take_the_rest_as_threads() -> None:
    plan = plan_resources(cpus=2, gpus=0, device="auto", workers=None, gpus_per_worker=None)
    assert (plan.workers, plan.gpus, plan.actor_cpus, plan.threads, plan.device) == (1, 0.0, 1.0, 1, "cpu")
    wide = plan_resources(cpus=16, gpus=0, device="cpu", workers=3, gpus_per_worker=None)
    assert wide.workers * wide.actor_cpus < 16 and wide.threads == 5
    assert plan_resources(cpus=64, gpus=4, device="cpu", workers=None, gpus_per_worker=None).gpus == 0


@pytest.mark.parametrize(
    ("cpus", "gpus", "device", "workers", "per_worker", "words"),
    [
        (1, 0, "auto", None, None, "at least one"),  # every CPU held by the actor: no decode could run
        (2, 0, "auto", 8, None, "--workers 8"),
        (8, 0, "cuda", None, None, "no GPU"),
        (8, 1, "auto", None, 2.0, "fewer than --gpus-per-worker 2"),
        (8, 2, "auto", 3, 1.0, "needs 3 GPUs"),
        (8, 2, "cpu", None, 1.0, "choose one"),
    ],
)
def test_a_pool_that_could_not_run_is_a_usage_error(
    cpus: float, gpus: float, device: str, workers: int | None, per_worker: float | None, words: str
) -> None:
    with pytest.raises(ConfigError, match=words):
        plan_resources(cpus=cpus, gpus=gpus, device=device, workers=workers, gpus_per_worker=per_worker)


def test_uris_are_told_from_paths() -> None:
    from enhance.commands.run import _as_typed

    assert is_uri("s3://bucket/in") and not is_uri("/data/in") and not is_uri(Path("s3://bucket/in"))
    assert _as_typed(Path("s3://bucket/in/x")) == "s3://bucket/in/x"
    assert _as_typed(Path("in/x")) == Path("in/x")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--workers", "2"], "--workers: only with --engine ray"),
        (["--engine", "spark"], "--engine spark: unknown"),
        (["--engine", "ray", "--jobs", "2"], "--jobs: only with --engine local"),
    ],
)
def test_engine_options_are_checked_before_anything_runs(tmp_path: Path, args: list[str], words: str) -> None:
    from enhance.cli import app

    result = CliRunner().invoke(app, ["run", str(tmp_path), "-o", str(tmp_path / "out"), *args])
    assert result.exit_code == 2 and words in result.output
    assert not (tmp_path / "out").exists()
