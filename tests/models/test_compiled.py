"""The optional torch.compile path: used when it works, eager (same results) when it does not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from enhance.context import RunContext
from enhance.errors import Cancelled
from enhance.image import Image, Metadata
from enhance.models.compiled import compile_forward
from enhance.stages.upscale import Upscale
from tests.sr_models import save_pth, tiny_compact_state


def _forward(t: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.interpolate(t, scale_factor=2, mode="nearest") * 0.5


def test_a_real_compile_traces_and_gives_the_eager_result() -> None:
    """backend 'eager': dynamo traces the forward without generating code (quick on any machine)."""
    wrapped = compile_forward(_forward, backend="eager")
    x = torch.rand(1, 3, 8, 6)
    assert torch.equal(wrapped(x), _forward(x))
    assert wrapped.active and wrapped.reason is None


def test_torch_without_compile_runs_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(torch, "compile")
    wrapped = compile_forward(_forward)
    x = torch.rand(1, 3, 4, 4)
    assert not wrapped.active and "no torch.compile" in wrapped.reason
    assert torch.equal(wrapped(x), _forward(x))


def test_compile_refused_at_once_runs_eager(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Dynamo is not supported on this Python\nmore detail")

    monkeypatch.setattr(torch, "compile", refuse)
    with caplog.at_level(logging.WARNING, logger="enhance"):
        wrapped = compile_forward(_forward)
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(wrapped(x), _forward(x))
    assert not wrapped.active and wrapped.reason == "RuntimeError: Dynamo is not supported on this Python"
    assert "runs uncompiled" in caplog.text


def _failing_compile(error: BaseException, calls: list[str]):
    def fake_compile(fn, **kwargs):
        def compiled(t: torch.Tensor) -> torch.Tensor:
            calls.append("compiled")
            raise error

        return compiled

    return fake_compile


def test_a_failure_at_the_first_call_falls_back_for_good(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", _failing_compile(RuntimeError("C++ compile failed"), calls))
    wrapped = compile_forward(_forward)
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(wrapped(x), _forward(x))  # the failed call itself is answered, eagerly
    assert torch.equal(wrapped(x), _forward(x))
    assert calls == ["compiled"] and not wrapped.active
    assert wrapped.reason == "RuntimeError: C++ compile failed"


@pytest.mark.parametrize("error", [torch.OutOfMemoryError("CUDA out of memory"), Cancelled("stop")])
def test_out_of_memory_and_cancel_are_not_compile_failures(monkeypatch: pytest.MonkeyPatch, error) -> None:
    monkeypatch.setattr(torch, "compile", _failing_compile(error, []))
    wrapped = compile_forward(_forward)
    with pytest.raises(type(error)):
        wrapped(torch.rand(1, 3, 4, 4))
    assert wrapped.active  # the tiler retries smaller tiles with the compiled forward


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pth(tmp_path_factory.mktemp("models") / "tiny-x4.pth", tiny_compact_state(seed=5))


def _upscaled(stage: Upscale, pixels: torch.Tensor) -> tuple[torch.Tensor, dict]:
    ctx = RunContext(device="cpu")
    out = stage.process(Image(pixels, meta=Metadata()), ctx)
    return out.pixels, ctx.results["upscale"]


def test_the_stage_with_a_failing_compile_gives_the_uncompiled_result(
    tiny_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pixels = torch.rand(3, 20, 16)
    plain = Upscale(model=str(tiny_path), tile=0)
    plain.ensure_setup(RunContext(device="cpu"))
    expected, info = _upscaled(plain, pixels)
    assert info["compiled"] is False

    calls: list[str] = []
    monkeypatch.setattr(torch, "compile", _failing_compile(RuntimeError("inductor failed"), calls))
    stage = Upscale(model=str(tiny_path), tile=0, compile=True)
    stage.ensure_setup(RunContext(device="cpu"))
    got, info = _upscaled(stage, pixels)
    again, _ = _upscaled(stage, pixels)
    assert torch.equal(got, expected) and torch.equal(again, expected)
    assert calls == ["compiled"] and info["compiled"] is False


def test_the_stage_compiles_once_and_reuses_one_model_across_images(
    tiny_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    real_compile = torch.compile

    def counting_compile(fn, **kwargs):
        made.append(fn)
        return real_compile(fn, **{**kwargs, "backend": "eager"})

    monkeypatch.setattr(torch, "compile", counting_compile)
    descriptors: list[int] = []

    def model_call(descriptor):
        descriptors.append(id(descriptor))
        from enhance.stages.upscale import model_forward

        return model_forward(descriptor)

    stage = Upscale(model=str(tiny_path), tile=0, compile=True, model_call=model_call)
    stage.ensure_setup(RunContext(device="cpu"))
    plain = Upscale(model=str(tiny_path), tile=0)
    plain.ensure_setup(RunContext(device="cpu"))
    for seed in range(3):
        pixels = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(seed))
        got, info = _upscaled(stage, pixels)
        assert info["compiled"] is True
        assert torch.allclose(got, _upscaled(plain, pixels)[0], atol=1e-6)
    assert len(made) == 1  # one compiled forward for the three images
    assert len(set(descriptors)) == 1  # one model instance behind every call
