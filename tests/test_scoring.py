"""Folder scoring as a library call: its events (the command line's output is tested in
tests/commands/test_score.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhance.events import FileFinished, FilesPlanned, Notice
from enhance.scoring import score_files

from .commands.test_pick import flat, noisy


def test_score_files_reports_each_file_as_an_event_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    noisy(tmp_path / "in" / "a.png")
    flat(tmp_path / "in" / "b.png")
    (tmp_path / "in" / "c.png").write_bytes(b"")
    events: list[object] = []
    manifest = score_files(
        [tmp_path / "in"], metrics="sharpness", device="cpu", out_dir=tmp_path / "rep", on_event=events.append
    )
    assert events[0] == FilesPlanned(3)
    finished = [e.record for e in events if isinstance(e, FileFinished)]
    assert finished == manifest["files"] and [r["status"] for r in finished] == ["done", "done", "failed"]
    assert [e for e in events if isinstance(e, Notice)] == []
    assert capfd.readouterr() == ("", "")
