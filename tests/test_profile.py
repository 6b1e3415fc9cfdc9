"""Where a run's time goes: per-stage timings (device synchronised), host scoring off the device
thread, the run profile in manifest.json / report.json, and ``enhance run --profile``."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import enhance.devices as devices
from enhance.batch import run_batch
from enhance.config import OutputSpec
from enhance.image import Image
from enhance.io import decode
from enhance.io.pngchunks import iter_chunks
from enhance.manifest import run_profile
from enhance.metrics import information
from enhance.pipeline import Pipeline
from enhance.stages import Stage
from enhance.stages.resize import Resize
from enhance.stages.score import Score


def make_images(folder: Path, count: int = 3, size: int = 40) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        yy, xx = np.mgrid[0:size, 0:size] / size
        array = np.clip(np.stack([yy, xx, yy * xx], -1) * 255 + rng.normal(0, 8, (size, size, 3)), 0, 255)
        path = folder / f"img{i}.png"
        PILImage.fromarray(array.astype(np.uint8)).save(path)
        paths.append(path)
    return paths


def scored_pipeline(**output: object) -> Pipeline:
    stages = [Resize(scale=2, method="bicubic"), Resize(scale=0.75, method="area"), Score(metrics="png_bpp,sharpness")]
    return Pipeline(stages, output=OutputSpec(**output), device="cpu", name="t")


def test_records_time_each_stage_and_the_manifest_and_report_keep_the_profile(tmp_path: Path) -> None:
    make_images(tmp_path / "in")
    result = run_batch(scored_pipeline(), [tmp_path / "in"], tmp_path / "out")
    assert result.exit_code == 0
    record = result.records[0]
    timings = record["timings"]
    assert list(timings["stages"]) == ["upload", "resize", "resize#2", "score", "download"]
    assert {"read", "compute", "write", "score"} <= set(timings)
    assert all(v >= 0 for v in timings["stages"].values())
    assert sum(timings["stages"].values()) <= timings["compute"] + 1e-3  # the parts of compute
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    profile = manifest["profile"]
    assert profile == result.profile and profile["images"] == 3
    assert set(profile["stages"]) == {"upload", "resize", "resize#2", "score", "download"}
    assert set(profile["waits"]) == {"decode", "encode", "score", "drain"}
    assert 0 < profile["device_busy"] <= 1 and profile["bound"] in ("device", "decode", "encode", "score", "overhead")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["profile"] == profile
    assert report["files"][0]["timings"]["stages"] == manifest["files"][0]["timings"]["stages"]


def test_pipeline_synchronises_the_device_after_each_stage_before_reading_the_clock(monkeypatch) -> None:
    log: list[str] = []

    class Mark(Stage):
        name = "mark"
        description = "logs its call"

        def process(self, image, ctx):
            log.append("process")
            return image

    monkeypatch.setattr(devices, "synchronize", lambda device: log.append("sync"))
    real = time.perf_counter
    monkeypatch.setattr(time, "perf_counter", lambda: log.append("clock") or real())
    pipe = Pipeline([Mark(), Mark()], device="cpu")
    _, ctx = pipe.process(Image(torch.zeros(3, 4, 4)))
    assert list(ctx.timings) == ["mark", "mark#2"]
    # each stage: clock, process, sync, then the clock that closes its timing
    assert log == ["clock", "process", "sync", "clock"] * 2


def test_synchronize_waits_on_cuda_only(monkeypatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    devices.synchronize(torch.device("cpu"))
    devices.synchronize("cpu")
    assert calls == []
    gpu = types.SimpleNamespace(type="cuda")
    devices.synchronize(gpu)
    devices.synchronize("cuda:1")
    assert calls == [gpu, "cuda:1"]


def count_png_bpp_encodes(monkeypatch) -> list[tuple[int, ...]]:
    encodes: list[tuple[int, ...]] = []
    real = information.png_bpp_codes

    def counted(codes, **kwargs):
        encodes.append(codes.shape)
        return real(codes, **kwargs)

    monkeypatch.setattr(information, "png_bpp_codes", counted)
    return encodes


def test_undithered_png_output_gives_png_bpp_after_from_the_written_file(tmp_path: Path, monkeypatch) -> None:
    (source,) = make_images(tmp_path / "in", 1)
    encodes = count_png_bpp_encodes(monkeypatch)
    pipe = scored_pipeline(dither=False)
    result = run_batch(pipe, [source], tmp_path / "out")
    record = result.records[0]
    png = Path(record["output"]).read_bytes()
    rows = sum(len(data) for kind, data, *_ in iter_chunks(png) if kind == b"IDAT")
    width, height = record["size"]["output"]
    scores = record["results"]["scores"]["png_bpp"]
    assert scores["after"] == rows * 8 / (width * height)  # the writer's own bytes
    assert len(encodes) == 1  # only "before" was encoded for the metric
    # the same figures the stage computes inline, outside a batch
    _, _, ctx = pipe.process_raster(decode(source), path=source)
    inline = ctx.results["scores"]["png_bpp"]
    assert scores["before"] == pytest.approx(inline["before"]) and scores["after"] == pytest.approx(inline["after"])
    assert scores["delta"] == pytest.approx(inline["delta"])
    assert record["timings"]["score"] >= 0


def test_dithered_output_encodes_after_on_a_host_thread_with_the_inline_values(tmp_path: Path, monkeypatch) -> None:
    import threading

    (source,) = make_images(tmp_path / "in", 1)
    threads: list[str] = []
    real = information.png_bpp_codes
    monkeypatch.setattr(
        information, "png_bpp_codes", lambda codes, **kw: threads.append(threading.current_thread().name) or real(codes)
    )
    pipe = scored_pipeline()  # dither on: the file is not the scored codes
    record = run_batch(pipe, [source], tmp_path / "out").records[0]
    assert len(threads) == 2 and all(name != threading.main_thread().name for name in threads)
    monkeypatch.setattr(information, "png_bpp_codes", real)
    _, _, ctx = pipe.process_raster(decode(source), path=source)
    assert record["results"]["scores"]["png_bpp"] == pytest.approx(ctx.results["scores"]["png_bpp"])


def test_profile_names_the_resource_that_bound_the_run() -> None:
    records = [{"status": "done", "timings": {"read": 1.0, "compute": 2.0, "write": 3.0, "stages": {"upscale": 1.5}}}]
    busy = run_profile(records, {"wall": 2.1, "compute": 2.0})
    assert busy["bound"] == "device" and busy["device_busy"] == pytest.approx(2.0 / 2.1, abs=1e-4)
    enc = run_profile(records, {"wall": 10.0, "compute": 2.0, "encode": 7.0, "decode": 0.5})
    assert enc["bound"] == "encode" and enc["per_image"]["write"] == 3.0 and enc["stages"] == {"upscale": 1.5}
    assert run_profile(records, {"wall": 10.0, "compute": 2.0, "score": 6.0})["bound"] == "score"
    assert run_profile(records, {"wall": 10.0, "compute": 2.0, "decode": 1.0})["bound"] == "overhead"
    assert run_profile([], {})["images"] == 0


def test_slow_decoding_shows_as_the_bound(tmp_path: Path, monkeypatch) -> None:
    import enhance.work as work

    make_images(tmp_path / "in", 3, size=16)
    real = work.read_input

    def slow(job):
        time.sleep(0.5)
        return real(job)

    monkeypatch.setattr("enhance.batch.read_input", slow)
    pipe = Pipeline([Resize(scale=0.5, method="area")], device="cpu", name="t")
    result = run_batch(pipe, [tmp_path / "in"], tmp_path / "out", jobs=1)
    assert result.profile["bound"] == "decode" and result.profile["waits"]["decode"] > 0


def test_cli_profile_prints_the_table(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from enhance.cli import app

    make_images(tmp_path / "in", 2)
    out = CliRunner().invoke(
        app,
        ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-p", "resize-2k", "--device", "cpu", "--profile"],
    )
    assert out.exit_code == 0, out.output
    text = out.output
    assert "profile: 2 image(s)" in text and "resize" in text and "bound by:" in text and "device busy" in text
