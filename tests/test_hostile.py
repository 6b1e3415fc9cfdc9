"""A hostile corpus, generated at test time, through ``enhance run``, ``score`` and ``pick`` (issue
13): truncated, empty and text files named as images, garbage EXIF, a header claiming a huge
image, names with terminal escapes, bytes that are not UTF-8 and 250 bytes, a folder named like an
image, a symlink loop and a FIFO. Each command must end with the right exit code and no
traceback, change no input, write nothing outside -o, leave no partial or empty output, and
account for every input in its manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from enhance.cli import app
from enhance.io import decode

ESCAPES = "t\x1b]0;pwned\x07\x1b[2J.png"
NON_UTF8 = os.fsdecode(b"n\xff\xfe.png")
LONG = "l" * 246 + ".png"  # 250 bytes
IMAGES = {"ok.png", "ok2.jpg", "exif.jpg", ESCAPES, NON_UTF8, LONG}  # the ones that must come out
BAD = {"truncated.png", "empty.png", "text.png", "huge.png", "fifo.png"}
NOT_INPUTS = {"dir.png", "loop.png"}  # a folder and a looping link named like images: no files


def _png(width: int = 12, height: int = 8, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    array = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    PILImage.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def _huge_header() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)  # 10^10 pixels
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def make_corpus(folder: Path) -> None:
    folder.mkdir()
    (folder / "ok.png").write_bytes(_png())
    buf = io.BytesIO()
    PILImage.open(io.BytesIO(_png(seed=1))).save(buf, "JPEG")
    (folder / "ok2.jpg").write_bytes(buf.getvalue())
    buf = io.BytesIO()
    PILImage.open(io.BytesIO(_png(seed=2))).save(buf, "JPEG", exif=b"Exif\x00\x00II*\x00\xff\xff\xff\x00")
    (folder / "exif.jpg").write_bytes(buf.getvalue())
    (folder / ESCAPES).write_bytes(_png(seed=3))
    (folder / NON_UTF8).write_bytes(_png(seed=4))
    (folder / LONG).write_bytes(_png(seed=5))
    (folder / "truncated.png").write_bytes(_png(64, 64)[:200])
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "huge.png").write_bytes(_huge_header())
    (folder / "dir.png").mkdir()
    (folder / "loop.png").symlink_to("loop.png")
    os.mkfifo(folder / "fifo.png")


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every entry under ``root`` but ``skip``: regular files by content hash, others by kind."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d != skip]
        for name in filenames + dirnames:
            path = here / name
            key = os.fsencode(path.relative_to(root)).hex()
            if path.is_symlink():
                seen[key] = "link:" + os.readlink(path)
            elif path.is_file():
                seen[key] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[key] = "other"
    return seen


def check_outputs(out: Path) -> list[Path]:
    """Outputs are whole: no temp, none empty, each image decodes."""
    images = []
    for path in out.rglob("*"):
        assert ".enhance-tmp" not in path.name, path
        if path.is_file():
            assert path.stat().st_size > 0, path
            if path.suffix in (".png", ".jpg"):
                decode(path)
                images.append(path)
    return images


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and symlinks")
@pytest.mark.parametrize("command", ["run", "score", "pick"])
def test_the_hostile_corpus(tmp_path: Path, command: str) -> None:
    make_corpus(tmp_path / "in")
    out = tmp_path / "out"
    before = snapshot(tmp_path, out)
    args = {
        "run": ["run", "-p", "resize-2k", "--set", "resize.long_side=6", "--set", "resize.only=always"],
        "score": ["score", "-m", "sharpness"],
        "pick": ["pick", "-m", "sharpness"],
    }[command]
    result = CliRunner().invoke(app, [*args, str(tmp_path / "in"), "-o", str(out)])
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception), result.output
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert snapshot(tmp_path, out) == before  # no input changed, nothing written outside -o
    images = check_outputs(out)
    report = json.loads((out / ("manifest.json" if command == "run" else "report.json")).read_text())
    records = {Path(r["input"]).name: r for r in report["files"]}
    assert set(records) == IMAGES | BAD, sorted(set(records) ^ (IMAGES | BAD))
    for name in BAD:
        assert records[name]["status"] == "failed" and "\n" not in records[name]["error"], records[name]
    for name in IMAGES:
        assert records[name]["status"] == "done", records[name]
    assert "EXIF dropped" in " ".join(records["exif.jpg"]["warnings"])
    if command == "run":
        assert len(images) == len(IMAGES)
