"""Best-of-N as a library call: its events (the command line's output is tested in
tests/commands/test_pick.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhance.events import FileFinished, FilesPlanned
from enhance.metrics.ranking import ranking_for
from enhance.picking import pick_best

from .commands.test_pick import flat, noisy


def test_pick_best_reports_each_file_once_when_its_record_is_final_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    noisy(tmp_path / "in" / "p" / "a.png")
    flat(tmp_path / "in" / "p" / "b.png")
    (tmp_path / "in" / "p" / "c.png").write_bytes(b"")
    events: list[object] = []
    manifest = pick_best(
        [tmp_path / "in"], tmp_path / "best", ranking=ranking_for(), device="cpu", on_event=events.append
    )
    assert events[0] == FilesPlanned(3)
    finished = [e for e in events[1:] if isinstance(e, FileFinished)]
    assert len(finished) == len(events) - 1 == 3
    assert [e.status for e in finished] == ["failed", "done", "done"]  # the failure at once, the rest once placed
    assert sorted(e.record["relative"] for e in finished) == sorted(r["relative"] for r in manifest["files"])
    picked = [e.record for e in finished if e.record["results"].get("pick", {}).get("picked")]
    assert [r["relative"] for r in picked] == ["p/a.png"] and (tmp_path / "best" / "p" / "a.png").is_file()
    assert capfd.readouterr() == ("", "")
