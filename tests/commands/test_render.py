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


HOSTILE = "t\x1b]0;pwned\x07\x1b[2J\x9b\x00\udcff.png"


def test_names_with_control_characters_are_escaped_in_every_line(capfd: pytest.CaptureFixture[str]) -> None:
    """A file named with terminal escape sequences (OSC title, clear screen, C1 CSI) or bytes that
    are not UTF-8 never reaches the terminal raw: failure lines, notices, bar lines, listings."""
    from enhance.commands._render import echo

    with Renderer() as render:
        render(FileFinished({"status": "failed", "error": f"{HOSTILE}: truncated"}))
        render(Notice("warning", f"{HOSTILE}: EXIF dropped"))
    with Renderer(progress=True) as render:
        render(FilesPlanned(1))
        render.say(f"{HOSTILE}: over a bar")
    echo(f"  {HOSTILE} → out/{HOSTILE} (to do)")
    out, err = capfd.readouterr()
    for text in (out, err):
        assert not any(ch in text for ch in "\x1b\x07\x9b\x00"), repr(text)
    assert "t\\x1b]0;pwned\\x07\\x1b[2J\\x9b\\x00\\udcff.png" in out
    assert err.count("t\\x1b]0;pwned\\x07") == 3


def test_dry_run_and_score_listings_escape_names(tmp_path) -> None:
    import numpy as np
    from PIL import Image as PILImage
    from typer.testing import CliRunner

    from enhance.cli import app

    (tmp_path / "in").mkdir()
    name = "t\x1b]0;pwned\x07\x1b[2J.png"
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / name)
    (tmp_path / "in" / "x\x1b[2J.png").write_bytes(b"junk")
    runner = CliRunner()
    dry = runner.invoke(app, ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-p", "deband", "--dry-run"])
    scored = runner.invoke(app, ["score", str(tmp_path / "in"), "-o", str(tmp_path / "rep"), "-m", "sharpness"])
    assert dry.exit_code == 0 and scored.exit_code == 1
    for result in (dry, scored):
        assert "\x1b" not in result.output and "\x07" not in result.output
    assert "t\\x1b]0;pwned\\x07\\x1b[2J.png" in dry.output and "x\\x1b[2J.png: not an image" in scored.output
