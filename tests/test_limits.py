"""Bounds decided before any decoding (issue 13, item 11): a file's header is checked before it is
read whole, the memory a file's work will need and its output size are estimated from its header
and the pipeline and refused over the limit, a model archive that would unpack far past its size
is refused before anything is decompressed."""

from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from typer.testing import CliRunner

import enhance.io
from enhance.batch import run_batch
from enhance.cli import app
from enhance.config import OutputSpec
from enhance.devices import MEMORY_LIMIT_ENV, MemoryLimit, memory_limit
from enhance.errors import ConfigError, InputError
from enhance.io import decode, probe
from enhance.models.load import read_state_dict
from enhance.pipeline import Pipeline
from enhance.scoring import score_files
from enhance.stages.deband import Deband
from enhance.stages.resize import Resize


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims ``width`` x ``height`` RGB, with one tiny IDAT: what a decoder's
    header reading sees of a decompression bomb, without making one."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def test_a_huge_file_that_is_not_an_image_is_refused_from_its_first_bytes(tmp_path: Path) -> None:
    path = tmp_path / "huge.png"
    with open(path, "wb") as fh:
        fh.truncate(1 << 40)  # 1 TiB, sparse: reading it whole cannot even be allocated
    with pytest.raises(InputError, match=r"huge\.png: not an image"):
        decode(path)
    with pytest.raises(InputError, match=r"huge\.png: not an image"):
        probe(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_an_image_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(InputError, match="not a regular file"):
        decode(tmp_path / "pipe.png")


def test_probe_reads_the_header(tmp_path: Path) -> None:
    header = probe(png_header_only(tmp_path / "big.png", 16000, 16000))
    assert (header.format, header.width, header.height, header.channels, header.sample_bytes) == (
        "PNG",
        16000,
        16000,
        3,
        1,
    )
    assert header.file_size == (tmp_path / "big.png").stat().st_size
    PILImage.fromarray(np.zeros((4, 6, 4), np.uint16)[..., 0]).save(tmp_path / "g16.png")
    assert probe(tmp_path / "g16.png").sample_bytes == 2


def test_a_file_over_the_memory_limit_is_refused_before_decoding(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "1G")
    (tmp_path / "in").mkdir()
    png_header_only(tmp_path / "in" / "bomb.png", 16000, 16000)
    PILImage.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "in" / "small.png")
    decoded: list[Path] = []
    real = enhance.io.decode
    monkeypatch.setattr(enhance.io, "decode", lambda p: decoded.append(Path(p)) or real(p))
    pipeline = Pipeline([Resize(long_side=8)], output=OutputSpec(format="png"), device="cpu")
    result = run_batch(pipeline, [tmp_path / "in"], tmp_path / "out")
    by_name = {Path(r["input"]).name: r for r in result.records}
    error = by_name["bomb.png"]["error"]
    assert "bomb.png: a 16000x16000 image needs about" in error
    assert "over the limit of 1.0 GB (ENHANCE_MEMORY_LIMIT=1G)" in error and "ENHANCE_MEMORY_LIMIT=" in error
    assert "\n" not in error
    assert by_name["small.png"]["status"] == "done"
    assert [p.name for p in decoded] == ["small.png"]  # the refused file was never decoded
    assert result.exit_code == 1


def test_the_estimate_follows_the_pipeline(tmp_path: Path) -> None:
    header = probe(png_header_only(tmp_path / "a.png", 4000, 3000))
    small = Pipeline([Resize(long_side=100)], device="cpu").memory_needed(header)
    heavy = Pipeline([Deband()], device="cpu").memory_needed(header)
    up = Pipeline([Resize(scale=4, only="always")], device="cpu").memory_needed(header)
    assert small < heavy < up
    assert up >= 2 * header.float_bytes(12000, 16000)  # the larger image counts


def test_an_output_past_the_pixel_bound_is_refused_before_compute(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "in").mkdir()
    PILImage.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "in" / "s.png")
    monkeypatch.setattr(enhance.io, "MAX_PIXELS", 64 * 64 * 4)  # the bound, shrunk so the test stays small
    pipeline = Pipeline([Resize(scale=3, only="always")], output=OutputSpec(format="png"), device="cpu")
    result = run_batch(pipeline, [tmp_path / "in"], tmp_path / "out")
    (record,) = result.records
    assert record["status"] == "failed"
    assert "s.png: a 64x64 image would become 192x192 = 36,864 pixels through this pipeline" in record["error"]
    assert not (tmp_path / "out" / "s.png").exists()


def test_a_bad_memory_limit_setting_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "lots")
    with pytest.raises(ConfigError, match="ENHANCE_MEMORY_LIMIT='lots' is not a size"):
        memory_limit()
    (tmp_path / "in").mkdir()
    PILImage.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in" / "s.png")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), "-p", "deband"])
    assert result.exit_code == 2 and "ENHANCE_MEMORY_LIMIT" in result.output
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "512M")
    assert memory_limit() == MemoryLimit(512 << 20, "ENHANCE_MEMORY_LIMIT=512M")


def test_score_refuses_a_file_over_the_limit_before_decoding(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(MEMORY_LIMIT_ENV, "100M")
    png_header_only(tmp_path / "bomb.png", 8000, 8000)
    manifest = score_files([tmp_path / "bomb.png"], metrics=["sharpness"], device="cpu")
    (record,) = manifest["files"]
    assert record["status"] == "failed" and "a 8000x8000 image needs about" in record["error"]


def test_a_model_archive_that_would_unpack_far_past_its_size_is_refused(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(4)}, buf)
    source = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    bomb = tmp_path / "bomb.pth"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            if info.filename.endswith("/data/0"):
                with out.open(info.filename, "w", force_zip64=True) as fh:
                    for _ in range(20):
                        fh.write(bytes(16 << 20))  # 320 MB of zeros, deflated to ~300 KB
            else:
                out.writestr(info.filename, source.read(info))
    with pytest.raises(ConfigError, match=r"bomb\.pth was refused: its .* would unpack to 320\.0 MB, over the bound"):
        read_state_dict(bomb)
