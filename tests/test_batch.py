"""The folder runner: mirroring, resume, bad files, atomicity, interruption, threads, manifest."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from enhance.batch import MANIFEST_NAME, run_batch
from enhance.config import OutputSpec
from enhance.errors import ConfigError
from enhance.events import text_lines
from enhance.io import TEMP_MARKER, decode
from enhance.manifest import JOURNAL_NAME, new_record
from enhance.pipeline import Pipeline
from enhance.stages import Stage, StageParams
from enhance.stages.resize import Resize

from .conftest import ROOT
from .outfolders import deny_writes_in, held_by_another_process


def make_images(folder: Path, count: int = 3, size: tuple[int, int] = (48, 32)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        array = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        path = folder / (f"img{i}.png" if i % 2 == 0 else f"img{i}.jpg")
        PILImage.fromarray(array).save(path)
        paths.append(path)
    return paths


def resize_pipeline(**output: object) -> Pipeline:
    return Pipeline([Resize(long_side=24, method="area")], output=OutputSpec(**output), device="cpu", name="t")


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if TEMP_MARKER in p.name]


def test_folder_mirrors_tree_writes_manifest(tmp_path: Path) -> None:
    make_images(tmp_path / "in")
    make_images(tmp_path / "in" / "sub", 2)
    result = run_batch(resize_pipeline(), [tmp_path / "in"], tmp_path / "out", recursive=True)
    assert result.exit_code == 0 and result.summary == {"total": 5, "done": 5, "skipped": 0, "failed": 0}
    outputs = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png"))
    assert outputs == ["img0.png", "img1.png", "img2.png", "sub/img0.png", "sub/img1.png"]
    with PILImage.open(tmp_path / "out" / "sub" / "img1.png") as im:
        assert im.size == (24, 16)
    manifest = json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())
    assert manifest["summary"]["done"] == 5 and manifest["pipeline"] == "t" and manifest["device"] == "cpu"
    record = manifest["files"][0]
    assert record["status"] == "done" and record["error"] is None
    assert set(record["timings"]) == {"read", "compute", "stages", "write"}
    assert list(record["timings"]["stages"]) == ["upload", "resize", "download"]
    assert record["size"] == {"input": [48, 32], "output": [24, 16]}


def test_not_recursive_and_glob(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 3)
    make_images(tmp_path / "in" / "sub", 2)
    result = run_batch(resize_pipeline(), [tmp_path / "in"], tmp_path / "out", pattern="*.jpg")
    assert [r["relative"] for r in result.records] == ["img1.jpg"]


def test_bad_files_fail_alone_with_reasons_and_rerun_skips(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_images(src, 3)
    (src / "empty.png").write_bytes(b"")
    good = (src / "img0.png").read_bytes()
    (src / "truncated.png").write_bytes(good[: len(good) // 2])
    (src / "notes.png").write_text("this is a text file, not an image\n")
    before = {p.name: p.read_bytes() for p in src.iterdir()}

    result = run_batch(resize_pipeline(), [src], tmp_path / "out")
    assert result.exit_code == 1
    status = {r["relative"]: r for r in result.records}
    assert {n for n, r in status.items() if r["status"] == "done"} == {"img0.png", "img1.jpg", "img2.png"}
    for name in ("empty.png", "truncated.png", "notes.png"):
        assert status[name]["status"] == "failed"
        assert name in status[name]["error"] and "\n" not in status[name]["error"]
        assert not (tmp_path / "out" / name).exists(), "no partial output for a bad file"
    assert leftovers(tmp_path / "out") == []
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before, "inputs are never touched"

    again = run_batch(resize_pipeline(), [src], tmp_path / "out")
    status = {r["relative"]: r["status"] for r in again.records}
    assert status["img0.png"] == "skipped" and status["img1.jpg"] == "skipped"
    assert status["notes.png"] == "failed" and again.exit_code == 1


def test_overwrite_redoes(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    run_batch(resize_pipeline(), [tmp_path / "in"], tmp_path / "out")
    again = run_batch(resize_pipeline(), [tmp_path / "in"], tmp_path / "out", overwrite=True)
    assert again.records[0]["status"] == "done"


def test_output_never_overwrites_input(tmp_path: Path) -> None:
    paths = make_images(tmp_path / "in", 1)
    before = paths[0].read_bytes()
    with pytest.raises(ConfigError, match="would overwrite this input"):
        run_batch(resize_pipeline(), [tmp_path / "in"], tmp_path / "in")
    assert paths[0].read_bytes() == before
    result = run_batch(resize_pipeline(suffix="_small"), [tmp_path / "in"], tmp_path / "in")
    assert result.exit_code == 0 and (tmp_path / "in" / "img0_small.png").exists()


def test_colliding_outputs_are_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    PILImage.new("RGB", (8, 8)).save(src / "a.png")
    PILImage.new("RGB", (8, 8)).save(src / "a.jpg")
    with pytest.raises(ConfigError, match=r"would both be written to .*output\.format=same\) or leave one"):
        run_batch(resize_pipeline(), [src], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_written_from_another_input_by_an_earlier_run_is_a_usage_error(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    PILImage.new("RGB", (48, 32), "red").save(src / "a.png")
    PILImage.new("RGB", (48, 32), "blue").save(src / "a.jpg")
    run_batch(resize_pipeline(), [src / "a.png"], out)
    before = (out / "a.png").read_bytes()
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"a\.jpg: its output .*a\.png was written from .*a\.png by an earlier"):
            run_batch(resize_pipeline(), [src / "a.jpg"], out, overwrite=overwrite)
    assert (out / "a.png").read_bytes() == before
    again = run_batch(resize_pipeline(), [src / "a.png"], out)  # the same input still resumes
    assert again.records[0]["status"] == "skipped"
    kept = run_batch(resize_pipeline(format="same"), [src / "a.jpg"], out)
    assert kept.records[0]["status"] == "done" and (out / "a.jpg").exists()


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="input not found"):
        run_batch(resize_pipeline(), [tmp_path / "nope"], tmp_path / "out")


class _ExplodeParams(StageParams):
    on: str = "img1"
    error: str = "value"


class _Explode(Stage):
    """Fails (or simulates Ctrl-C) on one named file: to test that the batch goes on / stops cleanly."""

    name = "test-explode"
    description = "raise on one file (test stage)"
    Params = _ExplodeParams

    def process(self, image, ctx):
        if ctx.path is not None and ctx.path.stem == self.params.on:
            if self.params.error == "interrupt":
                raise KeyboardInterrupt
            raise ValueError("boom in compute")
        return image


class _Exhausted(Stage):
    """Runs out of memory the way numpy does (a MemoryError that never says "out of memory")."""

    name = "test-exhausted"
    description = "raise MemoryError (test stage)"
    Params = StageParams

    def process(self, image, ctx):
        raise MemoryError("Unable to allocate 3.2 GiB for an array with shape (20000, 20000, 4)")


def test_running_out_of_memory_fails_the_file_and_gives_memory_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import enhance.work

    released = []
    monkeypatch.setattr(enhance.work, "release_memory", released.append)
    make_images(tmp_path / "in", 1)
    result = run_batch(Pipeline([_Exhausted()], device="cpu"), [tmp_path / "in"], tmp_path / "out")
    assert result.records[0]["status"] == "failed" and "Unable to allocate" in result.records[0]["error"]
    assert [str(d) for d in released] == ["cpu"]


def test_compute_failure_fails_that_file_only(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 3)
    pipe = Pipeline([_Explode(on="img1"), Resize(long_side=24)], device="cpu")
    result = run_batch(pipe, [tmp_path / "in"], tmp_path / "out")
    status = {r["relative"]: r for r in result.records}
    assert status["img1.jpg"]["status"] == "failed" and "boom in compute" in status["img1.jpg"]["error"]
    assert status["img0.png"]["status"] == "done" and status["img2.png"]["status"] == "done"
    assert result.exit_code == 1


def test_interrupt_leaves_no_partial_file_and_rerun_finishes(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 4)
    pipe = Pipeline([_Explode(on="img2", error="interrupt"), Resize(long_side=24)], device="cpu")
    with pytest.raises(KeyboardInterrupt):
        run_batch(pipe, [tmp_path / "in"], tmp_path / "out", jobs=1)
    out = tmp_path / "out"
    assert leftovers(out) == []
    done = sorted(p.name for p in out.glob("img*"))
    assert "img2.png" not in done and "img3.png" not in done
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["interrupted"] is True
    assert {r["relative"] for r in manifest["files"]} == {"img0.png", "img1.jpg"}
    for name in done:  # what was written is complete and readable
        with PILImage.open(out / name) as im:
            im.load()

    result = run_batch(resize_pipeline(), [tmp_path / "in"], out)
    status = {r["relative"]: r["status"] for r in result.records}
    assert status == {"img0.png": "skipped", "img1.jpg": "skipped", "img2.png": "done", "img3.jpg": "done"}


def test_stale_temp_files_are_cleaned(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f"{TEMP_MARKER}-{'0' * 32}"  # what a killed write leaves
    stale.write_bytes(b"partial")
    lookalike = out / f"img0.png{TEMP_MARKER}-crash"  # not one of enhance's names: never removed
    lookalike.write_bytes(b"a user's file")
    run_batch(resize_pipeline(), [tmp_path / "in"], out)
    assert not stale.exists() and lookalike.read_bytes() == b"a user's file"


def test_a_photo_named_like_a_temp_file_is_an_input_and_never_removed(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    photo = src / "holiday.enhance-tmp.png"
    PILImage.new("RGB", (48, 32), "red").save(photo)
    before = photo.read_bytes()
    for _ in range(2):  # the rerun's start-up cleanup spares it too
        result = run_batch(resize_pipeline(suffix="_small"), [src], src)
        assert [r["relative"] for r in result.records] == ["holiday.enhance-tmp.png"]
    assert photo.read_bytes() == before
    assert (src / "holiday.enhance-tmp_small.png").is_file()


LONGEST_STEM = "n" * 251  # + ".png": 255 bytes, the longest name most file systems accept


def test_names_at_the_file_system_limit_go_through_a_run(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    PILImage.new("RGB", (48, 32), "red").save(src / f"{LONGEST_STEM}.png")
    PILImage.new("RGB", (48, 32), "blue").save(src / f"{'j' * 251}.jpg")
    result = run_batch(resize_pipeline(), [src], out)
    assert result.summary["done"] == 2, result.records
    assert decode(out / f"{LONGEST_STEM}.png").array.shape[:2] == (16, 24)
    assert (out / f"{'j' * 251}.png").is_file()
    again = run_batch(resize_pipeline(), [src], out)
    assert again.summary["skipped"] == 2
    assert leftovers(out) == []


def test_a_suffix_that_pushes_an_output_name_past_the_limit_is_a_usage_error_at_planning(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    PILImage.new("RGB", (48, 32)).save(src / "short.png")
    PILImage.new("RGB", (48, 32)).save(src / f"{LONGEST_STEM}.png")
    expected = rf"{LONGEST_STEM}\.png: its output name {LONGEST_STEM}_4k\.png would be 258 bytes, over .* limit of 255"
    with pytest.raises(ConfigError, match=expected):
        run_batch(resize_pipeline(suffix="_4k"), [src], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any image: nothing written


def test_decode_and_encode_run_on_worker_threads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import enhance.io as io

    seen: dict[str, set[str]] = {"decode": set(), "encode": set()}
    real_decode, real_encode = io.decode, io.encode

    def decode(path, *a, **k):
        seen["decode"].add(threading.current_thread().name)
        return real_decode(path, *a, **k)

    def encode(raster, path, *a, **k):
        seen["encode"].add(threading.current_thread().name)
        return real_encode(raster, path, *a, **k)

    monkeypatch.setattr(io, "decode", decode)
    monkeypatch.setattr(io, "encode", encode)
    make_images(tmp_path / "in", 3)
    run_batch(resize_pipeline(), [tmp_path / "in"], tmp_path / "out", jobs=2)
    assert seen["decode"] and all(n.startswith("enhance-decode") for n in seen["decode"])
    assert seen["encode"] and all(n.startswith("enhance-encode") for n in seen["encode"])


def test_setup_error_stops_before_any_output(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 1)
    pipe = Pipeline([Resize(long_side=24)], device="cuda:7")
    with pytest.raises(ConfigError):
        run_batch(pipe, [tmp_path / "in"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_output_that_is_another_input_is_a_usage_error(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    PILImage.new("RGB", (8, 8), "red").save(src / "a.png")
    PILImage.new("RGB", (8, 8), "blue").save(src / "a_4k.png")
    before = (src / "a_4k.png").read_bytes()
    for overwrite in (False, True):
        with pytest.raises(ConfigError, match=r"a\.png: its output .*a_4k\.png is the input .*another suffix"):
            run_batch(resize_pipeline(suffix="_4k"), [src], src, overwrite=overwrite)
    assert (src / "a_4k.png").read_bytes() == before
    assert not (src / MANIFEST_NAME).exists()


def test_partial_rerun_keeps_earlier_records(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    run_batch(resize_pipeline(), [tmp_path / "in"], out)
    result = run_batch(resize_pipeline(), [tmp_path / "in"], out, pattern="img1*", overwrite=True)
    assert result.summary == {"total": 1, "done": 1, "skipped": 0, "failed": 0}
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert [r["relative"] for r in manifest["files"]] == ["img1.jpg", "img0.png", "img2.png"]
    assert manifest["summary"] == {"total": 3, "done": 3, "skipped": 0, "failed": 0}
    assert manifest["this_run"] == {"total": 1, "done": 1, "skipped": 0, "failed": 0}


def test_partial_rerun_into_the_input_folder_never_takes_old_outputs_as_inputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_images(src, 2)
    run_batch(resize_pipeline(suffix="_x"), [src], src)
    run_batch(resize_pipeline(suffix="_x"), [src], src, pattern="img1*")
    again = run_batch(resize_pipeline(suffix="_x"), [src], src)
    assert sorted(r["relative"] for r in again.records) == ["img0.png", "img1.jpg"]
    assert not list(src.glob("*_x_x*"))


class _FakeScoreParams(StageParams):
    pass


class _FakeScore(Stage):
    """Reports a fixed score, so the batch writes reports without the metric stack."""

    name = "test-fake-score"
    description = "record a fixed score (test stage)"
    Params = _FakeScoreParams

    def process(self, image, ctx):
        ctx.results["scores"] = {"sharpness": {"before": 1.0, "after": 2.0, "delta": 1.0}}
        return image


def test_reports_cover_earlier_records_after_a_partial_rerun(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 3)
    out = tmp_path / "out"
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    run_batch(pipe, [tmp_path / "in"], out)
    run_batch(pipe, [tmp_path / "in"], out, pattern="img2*", overwrite=True)
    report = json.loads((out / "report.json").read_text())
    assert sorted(r["relative"] for r in report["files"]) == ["img0.png", "img1.jpg", "img2.png"]
    assert report["counts"]["total"] == 3 and report["counts"]["scored"] == 3
    assert "img0.png" in (out / "report.csv").read_text() and "img0.png" in (out / "report.html").read_text()


def test_earlier_record_of_an_output_rewritten_from_another_input_is_dropped(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    PILImage.new("RGB", (48, 32), "red").save(src / "a.png")
    PILImage.new("RGB", (48, 32), "blue").save(src / "a.jpg")
    run_batch(resize_pipeline(), [src / "a.png"], out)
    (out / "a.png").unlink()  # the user removed it: a.jpg may take its place
    run_batch(resize_pipeline(), [src / "a.jpg"], out)
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert [Path(r["input"]).name for r in manifest["files"]] == ["a.jpg"]


def test_output_path_that_is_a_file_is_a_usage_error_before_setup(tmp_path: Path) -> None:
    paths = make_images(tmp_path / "in", 1)
    pipe = Pipeline([Resize(long_side=24)], device="cuda:7")  # setup would fail: the -o check comes first
    with pytest.raises(ConfigError, match=r"-o .*img0\.png: exists and is not a folder; choose another -o"):
        run_batch(pipe, [tmp_path / "in"], paths[0])


def test_output_folder_that_cannot_be_created_is_a_usage_error(tmp_path: Path) -> None:
    paths = make_images(tmp_path / "in", 1)
    out = paths[0] / "sub"  # under a file: mkdir fails
    with pytest.raises(ConfigError, match=r"-o .*sub: cannot create the output folder \(.+\); choose another -o"):
        run_batch(resize_pipeline(), [tmp_path / "in"], out)


def test_same_format_16_bit_writes_jpeg_8_bit_with_a_warning(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)  # img0.png, img1.jpg
    result = run_batch(resize_pipeline(format="same", bit_depth=16), [tmp_path / "in"], tmp_path / "out")
    assert result.exit_code == 0, result.records
    status = {r["relative"]: r for r in result.records}
    assert status["img1.jpg"]["warnings"] == ["written 8-bit: JPEG holds 8-bit samples only"]
    assert status["img0.png"]["warnings"] == []
    assert decode(tmp_path / "out" / "img0.png").array.dtype == np.uint16
    assert decode(tmp_path / "out" / "img1.jpg").array.dtype == np.uint8


def test_same_format_needs_an_image_suffix_at_planning(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    PILImage.new("RGB", (8, 8)).save(src / "noext", format="PNG")
    with pytest.raises(ConfigError, match=r"noext: output format 'same' .* no suffix; .*--set output\.format=png"):
        run_batch(resize_pipeline(format="same"), [src / "noext"], tmp_path / "out")
    assert not (tmp_path / "out").exists()
    result = run_batch(resize_pipeline(format="png"), [src / "noext"], tmp_path / "out")
    assert result.exit_code == 0 and (tmp_path / "out" / "noext.png").exists()


# -- an input folder inside the output folder ------------------------------------------------------


def test_input_folder_inside_the_output_folder_is_processed_and_rerun_skips(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_images(out / "in", 3)
    make_images(out / "in" / "sub", 2)
    inputs = {p: p.read_bytes() for p in (out / "in").rglob("*") if p.is_file()}
    for recursive, done in ((False, 3), (True, 2)):  # the second run adds the sub-folder's two
        result = run_batch(resize_pipeline(), [out / "in"], out, recursive=recursive)
        assert result.summary["done"] == done and result.exit_code == 0, result.records
    outputs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png") if not p.is_relative_to(out / "in"))
    assert outputs == ["img0.png", "img1.png", "img2.png", "sub/img0.png", "sub/img1.png"]
    again = run_batch(resize_pipeline(), [out / "in"], out, recursive=True)
    assert again.summary == {"total": 5, "done": 0, "skipped": 5, "failed": 0}, "outputs taken as inputs"
    assert {p: p.read_bytes() for p in (out / "in").rglob("*") if p.is_file()} == inputs


def test_output_that_falls_inside_an_input_folder_under_the_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_images(out / "x" / "x", 1)  # out/x/x/img0.png mirrors to out/x/img0.png: inside the input out/x
    kept = make_images(out / "x", 1)[0]  # ... which is this input, left out by --glob below
    before = kept.read_bytes()
    with pytest.raises(ConfigError, match=r"x/img0\.png: its output .*out/x/img0\.png is the input"):
        run_batch(resize_pipeline(), [out / "x"], out, recursive=True, overwrite=True)
    with pytest.raises(ConfigError, match=r"x/img0\.png: its output .*out/x/img0\.png would fall inside the input"):
        run_batch(resize_pipeline(), [out / "x"], out, recursive=True, pattern="x/*", overwrite=True)
    assert kept.read_bytes() == before and not (out / MANIFEST_NAME).exists()


# -- one writer per output folder --------------------------------------------------------------


def test_a_run_into_a_folder_another_command_holds_is_refused_before_touching_it(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 3)
    run_batch(resize_pipeline(), [src], out)
    their_temp = out / f"{TEMP_MARKER}-{'a' * 32}"  # the other command's write in flight
    their_temp.write_bytes(b"in flight")
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir()}
    with held_by_another_process(out) as holder:
        for overwrite in (False, True):
            with pytest.raises(ConfigError, match=rf"another enhance command \(pid {holder.pid}, started .+\)"):
                run_batch(resize_pipeline(), [src], out, overwrite=overwrite)
        assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.name != ".enhance.lock"} == (
            before
        )
    result = run_batch(resize_pipeline(), [src], out, overwrite=True)  # the holder is gone: the folder is free
    assert result.summary["done"] == 3 and not their_temp.exists()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EPERM])
def test_an_output_folder_that_refuses_writes_is_a_usage_error_before_any_image_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    import enhance.io as io

    make_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    decoded: list[Path] = []
    real_decode = io.decode
    monkeypatch.setattr(io, "decode", lambda path, *a, **k: decoded.append(path) or real_decode(path, *a, **k))
    deny_writes_in(out, monkeypatch, code)
    with pytest.raises(ConfigError, match=r"-o .*out: cannot write into the output folder \(.+\)"):
        run_batch(resize_pipeline(), [tmp_path / "in"], out)
    assert decoded == [] and list(out.iterdir()) == []


# -- records survive a kill --------------------------------------------------------------------


def test_a_killed_runs_journal_gives_its_files_their_records_and_is_removed(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 3)
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    run_batch(pipe, [src], out, pattern="img0*")
    # a later run finished img1 (output renamed, record journalled) and was killed before its manifest
    run_batch(pipe, [src], tmp_path / "elsewhere", pattern="img1*")
    (out / "img1.png").write_bytes((tmp_path / "elsewhere" / "img1.png").read_bytes())
    done = json.loads((tmp_path / "elsewhere" / MANIFEST_NAME).read_text())["files"][0]
    done["output"] = str((out / "img1.png").resolve())
    (out / JOURNAL_NAME).write_text(json.dumps(done) + '\n{"input": "' + str(src / "img2.png"))  # torn

    result = run_batch(pipe, [src], out)
    status = {r["relative"]: r["status"] for r in result.records}
    assert status == {"img0.png": "skipped", "img1.jpg": "skipped", "img2.png": "done"}
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert all(r["results"]["scores"]["sharpness"]["after"] == 2.0 for r in manifest["files"])
    assert json.loads((out / "report.json").read_text())["counts"]["scored"] == 3
    assert not (out / JOURNAL_NAME).exists()


def test_an_existing_output_no_record_vouches_for_is_redone(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 1)
    out.mkdir()
    (out / "img0.png").write_bytes(b"not written by enhance")  # or cut off before its record
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    result = run_batch(pipe, [src], out)
    (record,) = result.records
    assert record["status"] == "done" and record["results"]["scores"]
    assert "no earlier run recorded writing" in record["warnings"][-1]
    assert decode(out / "img0.png").array.shape[:2] == (16, 24)
    assert run_batch(pipe, [src], out).records[0]["status"] == "skipped"  # now it has its record


SCORED_PIPELINE = """\
pipelines:
  scored:
    device: cpu
    stages:
      - resize: {long_side: 48, method: area}
      - score: {metrics: [sharpness, entropy]}
"""


def test_sigkill_at_a_random_point_loses_no_record_and_a_rerun_reports_every_input_with_scores(
    tmp_path: Path,
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    count = 32
    rng = np.random.default_rng(5)
    src.mkdir()
    for i in range(count):
        PILImage.fromarray(rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)).save(src / f"img{i:02d}.png")
    config = tmp_path / "pipelines.yaml"
    config.write_text(SCORED_PIPELINE)
    args = [sys.executable, "-m", "enhance", "run", str(src), "-o", str(out), "-c", str(config), "-p", "scored", "-q"]
    seed = int.from_bytes(os.urandom(4), "little")
    chance = random.Random(seed)
    kill_after = chance.randint(1, count * 2 // 3)  # outputs present when the kill comes
    run = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240

    def outputs() -> list[Path]:
        return sorted(out.glob("img*.png")) if out.is_dir() else []

    while len(outputs()) < kill_after and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(chance.uniform(0, 0.02))
    alive = run.poll() is None
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=30)
    assert alive, f"the run ended before the kill (seed {seed}): {run.stderr.read().decode()[-500:]}"
    killed_with = outputs()
    assert 0 < len(killed_with) < count, f"seed {seed}"
    for path in killed_with:  # what a kill leaves is whole
        assert decode(path).array.shape[:2] == (36, 48), f"{path.name}, seed {seed}"

    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, f"seed {seed}: {again.stderr}"
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    records = {r["relative"]: r for r in manifest["files"]}
    assert sorted(records) == [f"img{i:02d}.png" for i in range(count)], f"seed {seed}"
    for name, record in records.items():
        assert record["status"] in ("done", "skipped"), (name, seed)
        assert set(record["results"]["scores"]) == {"sharpness", "entropy"}, (name, seed)
    skipped = [n for n, r in records.items() if r["status"] == "skipped"]
    assert skipped, f"the rerun redid everything (seed {seed})"
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["total"] == count and report["counts"]["scored"] == count, f"seed {seed}"
    assert not (out / JOURNAL_NAME).exists() and leftovers(out) == []
    for path in outputs():
        decode(path)


# -- manifests: odd names, full disks, damaged files, false claims ------------------------------

NOT_UTF8 = os.fsdecode(b"caf\xe9 \xff.png")  # Latin-1 bytes in a name: not UTF-8


def test_a_name_that_is_not_utf8_gets_its_manifest_and_reports_and_reruns(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 1)
    PILImage.new("RGB", (48, 32), "red").save(src / NOT_UTF8)
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    result = run_batch(pipe, [src], out)
    assert result.exit_code == 0 and (out / NOT_UTF8).is_file()
    manifest = json.loads((out / MANIFEST_NAME).read_text(encoding="ascii"))
    assert str((src / NOT_UTF8).resolve()) in {r["input"] for r in manifest["files"]}  # exactly, bytes and all
    report = json.loads((out / "report.json").read_text(encoding="ascii"))
    assert NOT_UTF8 in {r["relative"] for r in report["files"]}
    for name in ("report.csv", "report.html"):
        assert "caf\\xe9 \\xff.png" in (out / name).read_text(encoding="utf-8")
    again = run_batch(pipe, [src], out)
    assert again.exit_code == 0 and {r["status"] for r in again.records} == {"skipped"}
    assert all(r["results"]["scores"] for r in again.records)


def fail_writes_of(name: str, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    """Make the rename that puts ``name`` in place fail, as a full disk or a folder turned
    read-only at the end of a run would."""
    real_replace = os.replace

    def replace(source, target, *args, **kwargs):  # type: ignore[no-untyped-def]
        if Path(target).name == name:
            raise OSError(code, os.strerror(code), str(target))
        return real_replace(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_manifest_that_cannot_be_written_is_one_line_exit_1_and_a_rerun_recovers_its_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 3)
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    fail_writes_of(MANIFEST_NAME, monkeypatch, code)
    lines: list[str] = []
    result = run_batch(pipe, [src], out, on_event=text_lines(lines.append))
    assert result.exit_code == 1 and result.summary["done"] == 3
    (line,) = [line for line in lines if MANIFEST_NAME in line]
    assert f"({os.strerror(code)})" in line and JOURNAL_NAME in line and "rerun" in line
    assert not (out / MANIFEST_NAME).exists() and (out / JOURNAL_NAME).exists()
    assert len(list(out.glob("img*.png"))) == 3
    monkeypatch.undo()
    again = run_batch(pipe, [src], out)
    assert again.exit_code == 0
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == 3 and all(r["results"]["scores"] for r in manifest["files"])
    assert not (out / JOURNAL_NAME).exists()


def test_a_report_that_cannot_be_written_is_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 1)
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    fail_writes_of("report.html", monkeypatch, errno.ENOSPC)
    lines: list[str] = []
    result = run_batch(pipe, [src], out, on_event=text_lines(lines.append))
    assert result.exit_code == 1
    (line,) = [line for line in lines if "report.html" in line]
    assert "(No space left on device)" in line
    assert (out / MANIFEST_NAME).exists() and not (out / JOURNAL_NAME).exists()


MALFORMED = {
    "not json": (b"{not json", True),
    "not utf-8": (b"\xff\xfe\x00garbage", True),
    "a list": (b"[1, 2, 3]", True),
    "files not a list": (b'{"files": "all of them"}', True),
    "bad records": (
        json.dumps(
            {
                "files": [
                    {"input": 3},
                    {"input": "/x", "relative": "x.png", "status": "done", "results": {"scores": "high"}},
                    {"input": "/y", "relative": "y.png", "status": "finished"},
                    {"input": "/z", "relative": "z.png", "status": "done", "size": [1, 2]},
                    "a string",
                ]
            }
        ).encode(),
        False,
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_manifest_never_breaks_a_run_and_is_never_silently_lost(tmp_path: Path, case: str) -> None:
    content, moved = MALFORMED[case]
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 2)
    out.mkdir()
    (out / MANIFEST_NAME).write_bytes(content)
    pipe = Pipeline([Resize(long_side=24), _FakeScore()], device="cpu")
    lines: list[str] = []
    result = run_batch(pipe, [src], out, on_event=text_lines(lines.append))
    assert result.exit_code == 0 and result.summary["done"] == 2
    (warning,) = [line for line in lines if MANIFEST_NAME in line]
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert len(manifest["files"]) == 2 and all(r["results"]["scores"] for r in manifest["files"])
    broken = list(out.glob(f"{MANIFEST_NAME}.broken-*"))
    if moved:
        assert len(broken) == 1 and broken[0].read_bytes() == content and f"moved aside to {broken[0]}" in warning
    else:
        assert broken == [] and "5 record(s) with missing or wrong-typed fields ignored" in warning
    later: list[str] = []
    assert run_batch(pipe, [src], out, on_event=text_lines(later.append)).exit_code == 0 and later == []


def test_a_manifest_naming_an_input_as_its_output_does_not_make_that_input_vanish(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_images(src, 2)
    claim = new_record(tmp_path / "elsewhere" / "z.png", Path("z.png"), "done", output=(src / "img0.png").resolve())
    (src / MANIFEST_NAME).write_text(json.dumps({"files": [claim]}))
    lines: list[str] = []
    result = run_batch(resize_pipeline(suffix="_x"), [src], src, on_event=text_lines(lines.append))
    assert sorted(r["relative"] for r in result.records) == ["img0.png", "img1.jpg"]
    assert (src / "img0_x.png").is_file() and not [line for line in lines if "left out" in line]


def test_earlier_outputs_are_left_out_in_one_line_only_while_they_are_the_files_the_run_wrote(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_images(src, 2)
    run_batch(resize_pipeline(suffix="_x"), [src], src)
    lines: list[str] = []
    again = run_batch(resize_pipeline(suffix="_x"), [src], src, on_event=text_lines(lines.append))
    assert sorted((r["relative"], r["status"]) for r in again.records) == [
        ("img0.png", "skipped"),
        ("img1.jpg", "skipped"),
    ]
    assert [line for line in lines if "left out" in line] == [
        f"2 file(s) in the inputs left out: an earlier run wrote them into {src}"
    ]
    (src / "img0_x.png").write_bytes((src / "img0_x.png").read_bytes() + b"edited")  # no longer what was written
    with pytest.raises(ConfigError, match=r"img0\.png: its output .*img0_x\.png is the input"):
        run_batch(resize_pipeline(suffix="_x"), [src], src)
