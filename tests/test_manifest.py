"""enhance.manifest: records, the journal that keeps them through a kill, reading earlier runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

from enhance.manifest import JOURNAL_NAME, MANIFEST_NAME, Journal, new_record, read_earlier, read_journal


def record(name: str, status: str = "done", **extra: object) -> dict[str, object]:
    return new_record(Path("/in") / name, Path(name), status, output=Path("/out") / name, **extra)


def test_journal_lines_win_over_the_manifest_and_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    old = record("a.png", results={"scores": {"sharpness": {"after": 1.0}}})
    (tmp_path / MANIFEST_NAME).write_text(json.dumps({"files": [old, record("b.png")]}))
    newer = record("a.png", results={"scores": {"sharpness": {"after": 2.0}}})
    lines = [json.dumps(newer), json.dumps(record("c.png", "failed", error="boom"))]
    (tmp_path / JOURNAL_NAME).write_text("\n".join(lines) + '\n{"input": "/in/d.png", "rel')  # killed mid-line
    earlier = read_earlier(tmp_path)
    assert sorted(earlier) == ["/in/a.png", "/in/b.png", "/in/c.png"]
    assert earlier["/in/a.png"]["results"]["scores"]["sharpness"]["after"] == 2.0
    assert earlier["/in/c.png"]["status"] == "failed"


def test_appending_after_a_torn_line_starts_a_whole_line(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL_NAME
    path.write_text(json.dumps(record("a.png")) + '\n{"input": "/in/b.png", "relat')
    journal = Journal(path).open()
    journal.append(record("c.png"))
    journal.close()
    assert [r["relative"] for r in read_journal(path)] == ["a.png", "c.png"]
    assert path.read_text().count("\n") == 2


def test_a_journal_that_cannot_be_written_says_so_once_and_the_run_goes_on(tmp_path: Path) -> None:
    said: list[str] = []
    journal = Journal(tmp_path / "missing-folder" / JOURNAL_NAME, on_error=said.append).open()
    journal.append(record("a.png"))
    journal.append(record("b.png"))
    assert len(said) == 1 and "cannot append to the journal" in said[0] and journal.error == said[0]


def test_a_name_that_is_not_utf8_round_trips_through_the_journal(tmp_path: Path) -> None:
    name = os.fsdecode(b"caf\xe9.png")
    journal = Journal(tmp_path / JOURNAL_NAME).open()
    journal.append(record(name))
    journal.close()
    (tmp_path / JOURNAL_NAME).read_text(encoding="ascii")  # escaped, so any tool reads it
    assert read_earlier(tmp_path)[f"/in/{name}"]["relative"] == name
