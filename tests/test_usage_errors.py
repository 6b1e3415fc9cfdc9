"""Usage errors found before any image is read, exit 2, one line (issue 13, item 13): paths past
PATH_MAX or NAME_MAX for -o, a NUL byte in a suffix, an -o that is a file, an -o where no new file
can be made (immutable, with its lock file already there)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

import enhance.io
from enhance.cli import app


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    return folder


def _invoke(monkeypatch: pytest.MonkeyPatch, *args: str):  # type: ignore[no-untyped-def]
    """Run the CLI, failing the test if any image is decoded."""

    def no_decode(*_: object, **__: object) -> None:
        raise AssertionError("an image was read before the usage error")

    monkeypatch.setattr(enhance.io, "decode", no_decode)
    monkeypatch.setattr(enhance.io, "read", no_decode)
    return CliRunner().invoke(app, list(args))


COMMANDS = {"run": ["run", "-p", "deband"], "score": ["score", "-m", "sharpness"], "pick": ["pick"]}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", ["path", "name"])
def test_an_output_path_past_the_system_limits_is_a_usage_error(tmp_path, monkeypatch, command: str, kind: str) -> None:
    folder = _inputs(tmp_path)
    out = tmp_path / "/".join(["d" * 200] * 25) if kind == "path" else tmp_path / ("e" * 300)
    result = _invoke(monkeypatch, *COMMANDS[command], str(folder), "-o", str(out))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "internal error" not in lines[0]
    assert ("over the system's limit of" if kind == "path" else "a name in the path is 300 bytes") in lines[0]


def test_a_nul_byte_in_a_suffix_is_a_usage_error(tmp_path, monkeypatch) -> None:
    folder = _inputs(tmp_path)
    config = tmp_path / "p.yaml"
    config.write_text('pipelines:\n  n:\n    output: {format: png, suffix: "a\\0b"}\n    stages: [deband]\n')
    result = _invoke(monkeypatch, "run", str(folder), "-c", str(config), "-p", "n", "-o", str(tmp_path / "out"))
    assert result.exit_code == 2 and "must not contain a NUL byte" in result.output
    assert "internal error" not in result.output


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_that_is_a_file_is_a_usage_error(tmp_path, monkeypatch, command: str) -> None:
    folder = _inputs(tmp_path)
    (tmp_path / "afile").write_text("mine")
    result = _invoke(monkeypatch, *COMMANDS[command], str(folder), "-o", str(tmp_path / "afile"))
    assert result.exit_code == 2 and "exists and is not a folder" in result.output
    assert (tmp_path / "afile").read_text() == "mine"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_output_folder_where_no_new_file_can_be_made_is_refused_at_start(tmp_path, monkeypatch, command) -> None:
    """An immutable -o (chattr +i) whose lock file a previous run left: the lock file opens, but
    no new file can be made there. A probe write at the start finds it, before any image."""
    folder = _inputs(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".enhance.lock").write_text("")
    real_open = os.open

    def immutable(path, flags, *args, **kwargs):  # type: ignore[no-untyped-def]
        if flags & os.O_CREAT and not os.path.exists(path) and Path(os.path.abspath(path)).parent == out.resolve():
            raise OSError(errno.EPERM, os.strerror(errno.EPERM), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", immutable)
    result = _invoke(monkeypatch, *COMMANDS[command], str(folder), "-o", str(out))
    assert result.exit_code == 2, result.output
    assert "cannot write into the output folder" in result.output
    assert {p.name for p in out.iterdir()} <= {".enhance.lock"}  # nothing written (the lock let go)


@pytest.mark.parametrize("weights", ["sharpness=inf", "sharpness=1e308", "sharpness=nan"])
def test_pick_weights_that_are_not_finite_or_huge_are_usage_errors(tmp_path, monkeypatch, weights: str) -> None:
    folder = _inputs(tmp_path)
    result = _invoke(monkeypatch, "pick", str(folder), "-o", str(tmp_path / "out"), "--weights", weights)
    assert result.exit_code == 2 and "--weights" in result.output
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))
