"""The output folder's session and one file's work, shared by every runner: another runner built
on them (here a plain loop) leaves exactly what the local runner leaves; a run's events; a library
run prints nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import enhance.runfolder
from enhance.batch import run_batch
from enhance.events import FileFinished, FilesPlanned
from enhance.manifest import MANIFEST_NAME
from enhance.pipeline import Pipeline
from enhance.runfolder import BatchResult, RunFolder
from enhance.stages.resize import Resize
from enhance.work import compute, done_record, failed_record, read_input, write_output, written

from .conftest import ROOT
from .test_batch import _Explode, _FakeScore, make_images


def loop_runner(pipeline: Pipeline, inputs: list[Path], out: Path) -> BatchResult:
    """A second runner in a few lines: one file after the other, on the shared steps."""
    with RunFolder(out, "enhance test-runner") as folder:
        planned = folder.plan(inputs, pipeline.output)
        todo = folder.start(planned, pipeline=pipeline.name, config=None, device=str(pipeline.device))
        for job in todo:
            try:
                raster, read_seconds = read_input(job)
            except Exception as exc:
                folder.add(failed_record(job, exc))
                continue
            try:
                computed = compute(pipeline, raster, job)
            except Exception as exc:
                folder.add(failed_record(job, exc, timings={"read": round(read_seconds, 4)}))
                continue
            record = done_record(
                job, raster, computed, read_seconds=read_seconds, replaces_unrecorded=folder.replaces_unrecorded(job)
            )
            folder.add(written(record, *write_output(job, computed.raster, pipeline)))
    return folder.result


def comparable(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """manifest.json without what differs between two runs into two folders: times, stamps, the folder."""
    data = json.loads((out / MANIFEST_NAME).read_text())
    header = {k: v for k, v in data.items() if k not in ("files", "started", "finished")}
    files = []
    for record in data["files"]:
        record = {k: v for k, v in record.items() if k not in ("timings", "written")}
        record["output"] = record["output"].replace(str(out.resolve()), "OUT")
        record["error"] = record["error"] and record["error"].replace(str(out.resolve()), "OUT")
        files.append(record)
    return header, files


def test_another_runner_on_the_shared_steps_leaves_the_same_outputs_records_and_reports(tmp_path: Path) -> None:
    src = tmp_path / "in"
    make_images(src, 4)
    (src / "empty.png").write_bytes(b"")
    pipe = Pipeline([_Explode(on="img1"), Resize(long_side=24), _FakeScore()], device="cpu", name="p")
    local = run_batch(pipe, [src], tmp_path / "local", jobs=2)
    other = loop_runner(pipe, [src], tmp_path / "other")
    assert local.summary == other.summary == {"total": 5, "done": 3, "skipped": 0, "failed": 2}
    assert comparable(tmp_path / "local") == comparable(tmp_path / "other")
    for name in ("img0.png", "img2.png", "img3.png"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "other" / name).read_bytes()
    assert (tmp_path / "local" / "report.json").is_file() and (tmp_path / "other" / "report.json").is_file()
    again = loop_runner(pipe, [src], tmp_path / "local")  # and they resume each other's work
    assert again.summary == {"total": 5, "done": 0, "skipped": 3, "failed": 2}


def test_a_run_reports_its_plan_and_every_file_as_events(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 2)
    pipe = Pipeline([Resize(long_side=24)], device="cpu")
    run_batch(pipe, [src], out)
    make_images(src, 3)  # one more file: a rerun does it and skips the two
    events: list[object] = []
    result = run_batch(pipe, [src], out, on_event=events.append)
    assert events[0] == FilesPlanned(todo=1, skipped=2)
    finished = [e.record for e in events if isinstance(e, FileFinished)]
    assert len(finished) == len(events) - 1 == 3
    assert sorted(r["input"] for r in finished) == sorted(r["input"] for r in result.records)
    assert {r["relative"]: r["status"] for r in finished} == {
        "img0.png": "skipped",
        "img1.jpg": "skipped",
        "img2.png": "done",
    }


def test_the_earlier_records_are_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    make_images(src, 2)
    pipe = Pipeline([Resize(long_side=24)], device="cpu")
    run_batch(pipe, [src], out)
    reads: list[Path] = []
    real = enhance.runfolder.load_earlier
    monkeypatch.setattr(enhance.runfolder, "load_earlier", lambda path: reads.append(path) or real(path))
    monkeypatch.setattr("enhance.discovery.read_earlier", lambda path: pytest.fail("read the manifest again"))
    assert run_batch(pipe, [src], out).summary["skipped"] == 2
    assert reads == [out]


def test_a_library_run_prints_nothing_and_loads_no_terminal_library(tmp_path: Path) -> None:
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "bad.png").write_bytes(b"not an image")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from enhance import Pipeline, run_batch\n"
        "from enhance.stages.resize import Resize\n"
        f"root = Path({str(tmp_path)!r})\n"
        "result = run_batch(Pipeline([Resize(long_side=24)], device='cpu'), [root / 'in'], root / 'out')\n"
        "assert result.summary['failed'] == 1, result.records\n"
        "sys.stderr.write('RICH %s' % ('rich' in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (out.stdout, out.stderr) == ("", "RICH False")
