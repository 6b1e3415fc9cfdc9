"""enhance.io.pngwrite: the PNG encoders chosen by measurement keep every chunk and pixel enhance wrote before."""

from __future__ import annotations

import io
import sys
from collections import Counter

import numpy as np
import PIL.Image
import pytest
from PIL.PngImagePlugin import PngInfo

import enhance.io as eio
from enhance.image import Raster
from enhance.io import pngwrite
from enhance.io.metadata import XMP_KEY, png_text
from enhance.io.pngchunks import insert_chunks, iter_chunks, metadata_chunks
from tests.io.test_io import assert_metadata_kept, png_with_metadata, random_u8, random_u16, srgb_icc

XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
)


@pytest.fixture
def no_pyvips(monkeypatch):
    """pyvips that cannot be imported (as on a platform without a pyvips-binary wheel)."""
    monkeypatch.setitem(sys.modules, "pyvips", None)  # ``import pyvips`` now raises ImportError
    pngwrite._vips.cache_clear()
    yield
    pngwrite._vips.cache_clear()


def source_with_xmp(tmp_path, channels: int):
    array = random_u8(24, 40, channels)
    path = png_with_metadata(tmp_path / "src.png", array)
    raster = eio.decode(path)
    raster.meta.text[XMP_KEY] = XMP
    return raster


def pillow_as_before(raster: Raster) -> bytes:
    """What enhance wrote for an 8-bit PNG before the encoder was chosen by measurement (Pillow, level 4)."""
    meta = raster.meta
    info = PngInfo()
    for key, value in png_text(meta).items():
        info.add_text(key, value)
    array = raster.array
    im = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    icc = meta.icc_profile if array.shape[2] >= 3 else None
    buffer = io.BytesIO()
    extra = {k: v for k, v in {"icc_profile": icc, "exif": meta.exif, "dpi": meta.dpi}.items() if v}
    im.save(buffer, "PNG", pnginfo=info, compress_level=4, **extra)
    return buffer.getvalue()


def chunk_kinds(png: bytes) -> Counter:
    """The metadata chunks of a PNG (pixel chunks left out: encoders split IDAT differently)."""
    return Counter(kind for kind, *_ in iter_chunks(png) if kind not in (b"IDAT",))


def test_libvips_is_the_8bit_writer_when_installed():
    pytest.importorskip("pyvips")
    assert pngwrite.png_writer() == "libvips"


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_libvips_png_has_the_chunks_and_pixels_pillow_wrote(tmp_path, channels):
    pytest.importorskip("pyvips")
    raster = source_with_xmp(tmp_path, channels)
    ours = eio.encode_bytes(raster, "png")
    before = pillow_as_before(raster)
    assert chunk_kinds(ours) == chunk_kinds(before)
    assert b"pHYs" in chunk_kinds(ours) and chunk_kinds(ours)[b"pHYs"] == 1  # libvips' own pHYs replaced
    (tmp_path / "ours.png").write_bytes(ours)
    (tmp_path / "before.png").write_bytes(before)
    mine, theirs = eio.decode(tmp_path / "ours.png"), eio.decode(tmp_path / "before.png")
    np.testing.assert_array_equal(mine.array, raster.array)
    np.testing.assert_array_equal(mine.array, theirs.array)
    for field in ("icc_profile", "exif", "text", "dpi", "bit_depth"):
        assert getattr(mine.meta, field) == getattr(theirs.meta, field), field
    assert mine.meta.text[XMP_KEY] == XMP
    if channels >= 3:
        assert_metadata_kept(mine.meta)


def test_without_pyvips_pillow_writes_the_same_file_content(tmp_path, no_pyvips):
    assert pngwrite.png_writer() == "pillow"
    raster = source_with_xmp(tmp_path, 3)
    ours = eio.encode_bytes(raster, "png")
    assert chunk_kinds(ours) == chunk_kinds(pillow_as_before(raster))
    (tmp_path / "o.png").write_bytes(ours)
    back = eio.decode(tmp_path / "o.png")
    np.testing.assert_array_equal(back.array, raster.array)
    assert_metadata_kept(back.meta)
    assert back.meta.text[XMP_KEY] == XMP


def test_writer_env_forces_pillow(monkeypatch):
    monkeypatch.setenv(pngwrite.WRITER_ENV, "pillow")
    assert pngwrite.png_writer() == "pillow"


def test_pillow_fallback_uses_rle_at_low_levels(no_pyvips):
    """Pillow's ``compress_type`` is undocumented: pin that it reaches zlib (RLE sizes differ from
    the default strategy's at level 1 on a smooth image)."""
    ramp = np.tile(np.linspace(0, 255, 512).astype(np.uint8)[None, :, None], (256, 1, 3))
    rle = pngwrite.encode_png_pixels(ramp, 2)
    buffer = io.BytesIO()
    PIL.Image.fromarray(ramp).save(buffer, "PNG", compress_level=1)
    assert rle != buffer.getvalue()
    assert pngwrite.idat_bytes(rle) == pngwrite.idat_bytes(pngwrite.encode_png_pixels(ramp, 3))  # level-free
    assert pngwrite.idat_bytes(pngwrite.encode_png_pixels(ramp, 9)) != pngwrite.idat_bytes(rle)


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_16bit_rle_round_trips_with_metadata(tmp_path, channels):
    array = random_u16(16, 20, channels)
    src = eio.decode(png_with_metadata(tmp_path / "m.png", random_u8(16, 20, 3)))
    raster = Raster(array, src.meta)
    for level in (2, 6):
        (tmp_path / "o.png").write_bytes(eio.encode_bytes(raster, "png", compress_level=level))
        back = eio.decode(tmp_path / "o.png")
        expected = array[:, :, [0, 0, 0, 1]] if channels == 2 else array
        np.testing.assert_array_equal(back.array, expected)
        assert back.meta.icc_profile == (srgb_icc() if channels != 1 else None)
        assert back.meta.text == src.meta.text


def test_levels_configurable_and_bounded():
    array = random_u8(32, 32, 3)
    assert pngwrite.encode_png_pixels(array, 0) != pngwrite.encode_png_pixels(array, 6)
    with pytest.raises(ValueError, match="0-9"):
        pngwrite.encode_png_pixels(array, 10)


def test_idat_bytes_counts_pixel_payload_only():
    array = random_u8(64, 64, 3)
    plain = pngwrite.encode_png_pixels(array, 3)
    with_meta = insert_chunks(plain, metadata_chunks(text={"workflow": "x" * 5000}, dpi=(300, 300)))
    assert len(with_meta) > len(plain) + 5000
    assert pngwrite.idat_bytes(with_meta) == pngwrite.idat_bytes(plain) > 0
    assert pngwrite.idat_bytes(plain) == sum(len(data) for kind, data, *_ in iter_chunks(plain) if kind == b"IDAT")


def test_insert_chunks_drops_named_kinds_and_keeps_the_rows_verbatim():
    plain = pngwrite.encode_png_pixels(random_u8(64, 64, 3), 3)
    with_phys = insert_chunks(plain, metadata_chunks(dpi=(72, 72)))
    out = insert_chunks(with_phys, metadata_chunks(text={"a": "b"}), drop=(b"pHYs",))
    assert b"pHYs" not in chunk_kinds(out) and b"tEXt" in chunk_kinds(out)
    first_idat = out.index(b"IDAT") - 4
    assert out[first_idat:] == plain[plain.index(b"IDAT") - 4 :]
