"""The command line's renderer of library events: one ``enhance:`` line per message or failed
file on stderr, bars only when asked (on a terminal)."""

from __future__ import annotations

import pytest

from enhance.commands._render import Renderer
from enhance.events import DownloadProgress, FileFinished, FilesPlanned, Notice


def test_lines_go_to_stderr_prefixed_and_no_bar_unless_asked(capfd: pytest.CaptureFixture[str]) -> None:
    with Renderer() as render:
        render(FilesPlanned(2))
        render(FileFinished({"status": "failed", "error": "a.png: truncated"}))
        render(FileFinished({"status": "done", "error": None}))
        render(Notice("warning", "journal full"))
        render(DownloadProgress("m.pth", 5, 10))
        assert render._bar is None
    out, err = capfd.readouterr()
    assert out == "" and err.splitlines() == ["enhance: failed: a.png: truncated", "enhance: warning: journal full"]


def test_the_run_bar_counts_files_done_and_failed_not_skipped(capfd: pytest.CaptureFixture[str]) -> None:
    with Renderer(progress=True) as render:
        render(FilesPlanned(2, skipped=1))
        render(FileFinished({"status": "skipped", "error": None}))
        render(FileFinished({"status": "done", "error": None}))
        render(DownloadProgress("m.pth", 5, 10))  # one live display at a time: not drawn over the run's bar
        render(FileFinished({"status": "failed", "error": "b.png: truncated"}))
        task = render._bar.tasks[0]
        assert (task.completed, task.total) == (2, 2) and len(render._bar.tasks) == 1
    assert render._bar is None
    assert "enhance: failed: b.png: truncated" in capfd.readouterr().err


def test_a_download_bar_comes_and_goes_with_its_transfer() -> None:
    with Renderer(progress=True) as render:
        render(DownloadProgress("m.pth", 0, 10))
        render(DownloadProgress("m.pth", 6, 10))
        assert render._bar.tasks[0].completed == 6
        render(DownloadProgress("m.pth", 10, 10, finished=True))
        assert render._bar is None
