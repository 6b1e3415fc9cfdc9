"""enhance.io: decoding every layout, metadata through read → write, atomic writes, bad inputs."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import PIL.Image
import pytest
import tifffile
import torch
from PIL import ImageCms, ImageOps
from PIL.PngImagePlugin import PngInfo, iTXt

from enhance import io as eio
from enhance.convert import coerce, restore_kind
from enhance.errors import InputError
from enhance.image import Metadata, Raster, from_image, to_image
from enhance.io.decoding import _orient
from enhance.io.pngchunks import chunk, iter_chunks
from tests.conftest import KODAK

RNG = np.random.default_rng(1234)
PARAMETERS = "a lighthouse at dusk, 35mm\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 42"
PROMPT_JA = "灯台、夕暮れ — ünïcode"


# -- helpers -----------------------------------------------------------------------------------


@cache
def srgb_icc() -> bytes:
    """An sRGB profile, made once: littleCMS stamps each new profile with the current time, so two
    made a second apart differ (the metadata tests failed when writing and checking straddled one)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def exif_bytes(orientation: int = 1, *, make: str = "TestCam", comment: bytes | None = None) -> bytes:
    exif = PIL.Image.Exif()
    exif[0x010F] = make
    exif[0x0112] = orientation
    if comment is not None:
        exif.get_ifd(0x8769)[0x9286] = comment
    return exif.tobytes()


def random_u8(h: int, w: int, c: int) -> np.ndarray:
    return RNG.integers(0, 256, (h, w, c), dtype=np.uint8)


def random_u16(h: int, w: int, c: int) -> np.ndarray:
    # values whose low byte matters, so an 8-bit detour would show
    return RNG.integers(0, 65536, (h, w, c), dtype=np.uint16)


def raw_png(array: np.ndarray, colour_type: int, extra: list[bytes] = ()) -> bytes:
    """A PNG written by hand (filter 0): for layouts neither Pillow nor OpenCV writes (16-bit LA)."""
    h, w = array.shape[:2]
    depth = array.dtype.itemsize * 8
    rows = array.astype(array.dtype.newbyteorder(">")).reshape(h, -1).view(np.uint8)
    scanlines = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour_type, 0, 0, 0))
    return (
        b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(extra) + chunk(b"IDAT", zlib.compress(scanlines)) + chunk(b"IEND", b"")
    )


def cv2_png16(array: np.ndarray) -> bytes:
    bgr = array[:, :, [2, 1, 0, 3][: array.shape[2]]] if array.shape[2] >= 3 else array
    ok, data = cv2.imencode(".png", np.ascontiguousarray(bgr))
    assert ok
    return data.tobytes()


def cmyk_icc() -> bytes:
    """A minimal ICC v2 CMYK→Lab profile (lut8, 2-point grid): paper → L95, cyan → Lab(55,-37,-50),
    black → L10, other corners L40. Enough for littleCMS to convert with, and far from the naive formula."""

    def s15(x: float) -> bytes:
        return struct.pack(">i", round(x * 65536))

    clut = b""
    for c in (0, 1):
        for m in (0, 1):
            for y in (0, 1):
                for k in (0, 1):
                    lab = (
                        (10, 0, 0)
                        if k
                        else {(0, 0, 0): (95, 0, 0), (1, 0, 0): (55, -37, -50)}.get((c, m, y), (40, 0, 0))
                    )
                    clut += bytes([round(lab[0] * 255 / 100), lab[1] + 128, lab[2] + 128])
    ramp = bytes(range(256))
    matrix = b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    a2b0 = b"mft1" + b"\0" * 4 + bytes([4, 3, 2, 0]) + matrix + ramp * 4 + clut + ramp * 3
    name = b"test cmyk\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(name)) + name + b"\0" * 8 + b"\0" * 3 + b"\0" * 67
    wtpt = b"XYZ " + b"\0" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249)
    tags = [(b"desc", desc), (b"wtpt", wtpt), (b"cprt", b"text\0\0\0\0none\0"), (b"A2B0", a2b0)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, data in tags:
        body += b"\0" * (-(offset + len(body)) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = (
        struct.pack(">I", offset + len(body))
        + b"\0" * 4
        + bytes([2, 0x10, 0, 0])
        + b"prtrCMYKLab "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def png_with_metadata(path: Path, array: np.ndarray) -> Path:
    """An 8-bit PNG as a generator writes it: ICC, EXIF, `parameters` tEXt, an iTXt and a zTXt."""
    info = PngInfo()
    info.add_text("parameters", PARAMETERS)
    info.add_itxt("prompt", PROMPT_JA, lang="ja", tkey="プロンプト")
    info.add_text("workflow", '{"nodes": []}', zip=True)
    im = PIL.Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    im.save(
        path, "PNG", pnginfo=info, icc_profile=srgb_icc(), exif=exif_bytes(comment=b"ASCII\0\0\0hello"), dpi=(300, 300)
    )
    return path


def assert_metadata_kept(meta: Metadata) -> None:
    assert meta.icc_profile == srgb_icc()
    exif = PIL.Image.Exif()
    exif.load(meta.exif)
    assert exif[0x010F] == "TestCam"
    assert exif.get_ifd(0x8769)[0x9286] == b"ASCII\0\0\0hello"
    assert meta.text["parameters"] == PARAMETERS
    assert meta.text["prompt"] == PROMPT_JA
    assert meta.text["workflow"] == '{"nodes": []}'
    assert meta.dpi is not None and meta.dpi == pytest.approx((300, 300), abs=0.1)


def exif_user_comment(meta_or_exif: Metadata | bytes) -> str:
    raw = meta_or_exif.exif if isinstance(meta_or_exif, Metadata) else meta_or_exif
    exif = PIL.Image.Exif()
    exif.load(raw)
    comment = exif.get_ifd(0x8769)[0x9286]
    assert comment.startswith(b"UNICODE\0")
    return comment[8:].decode("utf-16-be")


def chunk_types(data: bytes) -> list[bytes]:
    return [kind for kind, *_ in iter_chunks(data)]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse else float("inf")


# -- decoding: every layout --------------------------------------------------------------------


LAYOUTS_8BIT = [(fmt, c) for fmt in ("PNG", "TIFF", "WEBP") for c in (1, 2, 3, 4) if fmt != "WEBP" or c >= 3]


@pytest.mark.parametrize("fmt, channels", LAYOUTS_8BIT)
def test_decode_8bit_layouts_exactly(tmp_path, fmt, channels):
    array = random_u8(5, 7, channels)
    path = tmp_path / f"x.{fmt.lower()}"
    if fmt == "WEBP":  # WebP stores RGB(A) only
        PIL.Image.fromarray(array).save(path, "WEBP", lossless=True, exact=True)
    else:
        PIL.Image.fromarray(array[:, :, 0] if channels == 1 else array).save(path, fmt)
    raster = eio.decode(path)
    assert raster.array.dtype == np.uint8
    assert raster.array.shape == (5, 7, channels)
    np.testing.assert_array_equal(raster.array, array)
    assert raster.meta.format == fmt
    assert raster.meta.bit_depth == 8
    assert raster.meta.source == path.resolve()


def test_decode_palette_without_and_with_transparency(tmp_path):
    palette = [0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255]
    indices = np.array([[0, 1], [2, 3]], np.uint8)
    im = PIL.Image.frombytes("P", (2, 2), indices.tobytes())
    im.putpalette(palette + [0] * (768 - len(palette)))
    im.save(tmp_path / "p.png")
    im.save(tmp_path / "pt.png", transparency=2)

    rgb = eio.decode(tmp_path / "p.png").array
    expected = np.array(palette, np.uint8).reshape(4, 3)[indices]
    np.testing.assert_array_equal(rgb, expected)

    rgba = eio.decode(tmp_path / "pt.png").array
    assert rgba.shape == (2, 2, 4)
    np.testing.assert_array_equal(rgba[..., :3], expected)
    np.testing.assert_array_equal(rgba[..., 3], np.where(indices == 2, 0, 255))


def test_decode_bilevel_and_keyed_gray(tmp_path):
    bits = RNG.integers(0, 2, (4, 6), dtype=np.uint8).astype(bool)
    PIL.Image.fromarray(bits).save(tmp_path / "one.png")
    np.testing.assert_array_equal(eio.decode(tmp_path / "one.png").array[..., 0], bits * 255)

    gray = np.array([[10, 20], [30, 20]], np.uint8)
    PIL.Image.fromarray(gray).save(tmp_path / "key.png", transparency=20)
    out = eio.decode(tmp_path / "key.png").array
    assert out.shape == (2, 2, 2)
    np.testing.assert_array_equal(out[..., 1], np.where(gray == 20, 0, 255))


def test_decode_16bit_gray_png_and_tiff(tmp_path):
    array = random_u16(6, 5, 1)
    PIL.Image.fromarray(array[:, :, 0]).save(tmp_path / "g.png")  # Pillow writes I;16 PNGs
    tifffile.imwrite(tmp_path / "g.tif", array[:, :, 0])
    for name in ("g.png", "g.tif"):
        raster = eio.decode(tmp_path / name)
        assert raster.array.dtype == np.uint16 and raster.meta.bit_depth == 16
        np.testing.assert_array_equal(raster.array, array)


@pytest.mark.parametrize("channels", [2, 3, 4])
def test_decode_16bit_colour_png_at_full_precision_in_rgb_order(tmp_path, channels):
    array = random_u16(6, 9, channels)
    array[0, 0, :] = np.arange(channels) * 1000 + 7  # distinct per channel: BGR would show
    data = raw_png(array, {2: 4, 3: 2, 4: 6}[channels]) if channels == 2 else cv2_png16(array)
    (tmp_path / "x.png").write_bytes(data)
    raster = eio.decode(tmp_path / "x.png")
    assert raster.array.dtype == np.uint16 and raster.meta.bit_depth == 16
    assert raster.array.shape == array.shape
    np.testing.assert_array_equal(raster.array, array)


@pytest.mark.parametrize("channels", [3, 4])
def test_decode_16bit_colour_tiff_at_full_precision(tmp_path, channels):
    array = random_u16(7, 4, channels)
    extra = {"extrasamples": ["unassalpha"]} if channels == 4 else {}
    tifffile.imwrite(tmp_path / "x.tif", array, photometric="rgb", compression="zlib", **extra)
    raster = eio.decode(tmp_path / "x.tif")
    assert raster.array.dtype == np.uint16
    np.testing.assert_array_equal(raster.array, array)


def test_decode_cmyk_without_profile_uses_pillows_formula(tmp_path):
    cmyk = PIL.Image.frombytes("CMYK", (4, 4), random_u8(4, 4, 4).tobytes())
    cmyk.save(tmp_path / "c.tif")
    raster = eio.decode(tmp_path / "c.tif")
    np.testing.assert_array_equal(raster.array, np.asarray(cmyk.convert("RGB")))
    assert raster.meta.mode == "CMYK"


@pytest.mark.parametrize("fmt", ["TIFF", "JPEG"])
def test_decode_cmyk_converts_through_its_icc_profile_and_drops_it(tmp_path, fmt):
    cmyk = PIL.Image.new("CMYK", (8, 8), (0, 0, 0, 0))
    cmyk.paste((255, 0, 0, 0), (4, 0, 8, 8))  # right half pure cyan ink
    path = tmp_path / f"c.{fmt.lower()}"
    cmyk.save(path, fmt, icc_profile=cmyk_icc(), **({"quality": 100} if fmt == "JPEG" else {}))
    raster = eio.decode(path)
    assert raster.array.shape == (8, 8, 3)
    assert raster.meta.icc_profile is None  # pixels are sRGB now: the CMYK profile must not follow
    paper, cyan = raster.array[4, 1].astype(int), raster.array[4, 6].astype(int)
    assert (paper >= 250).all()
    # the profile's cyan is Lab(55,-37,-50) ≈ sRGB (0,151,218); the naive formula gives (0,255,255)
    assert cyan[0] < 20 and 130 < cyan[1] < 170 and 200 < cyan[2] < 235


# -- EXIF orientation --------------------------------------------------------------------------


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_applied_like_pillow_and_tag_reset(tmp_path, orientation):
    array = random_u8(3, 5, 3)
    path = tmp_path / "o.png"
    PIL.Image.fromarray(array).save(path, exif=exif_bytes(orientation, comment=b"ASCII\0\0\0kept"))
    raster = eio.decode(path)
    expected = np.asarray(ImageOps.exif_transpose(PIL.Image.open(path)))
    np.testing.assert_array_equal(raster.array, expected)
    exif = PIL.Image.Exif()
    exif.load(raster.meta.exif)
    assert exif[0x0112] == 1
    assert exif[0x010F] == "TestCam" and exif.get_ifd(0x8769)[0x9286] == b"ASCII\0\0\0kept"


def test_orientation_6_rotates_a_jpeg_clockwise(tmp_path):
    array = np.zeros((40, 80, 3), np.uint8)
    array[:, :40] = 255  # left half white
    PIL.Image.fromarray(array).save(tmp_path / "o.jpg", quality=95, exif=exif_bytes(6))
    out = eio.decode(tmp_path / "o.jpg").array
    assert out.shape == (80, 40, 3)
    assert out[:35].mean() > 240 and out[45:].mean() < 15  # the left half is now on top


def test_orientation_16bit_png_goes_through_opencv_and_is_applied_once(tmp_path):
    array = random_u16(4, 6, 3)
    png = cv2_png16(array)
    from enhance.io.pngchunks import exif_chunk, insert_chunks

    (tmp_path / "o.png").write_bytes(insert_chunks(png, [exif_chunk(exif_bytes(6))]))
    raster = eio.decode(tmp_path / "o.png")
    np.testing.assert_array_equal(raster.array, np.rot90(array, -1))


@pytest.mark.parametrize("orientation", [3, 6])
@pytest.mark.parametrize("depth", [8, 16])
def test_tiff_orientation_is_not_applied_twice(tmp_path, orientation, depth):
    array = random_u16(4, 6, 3) if depth == 16 else random_u8(4, 6, 3)
    tifffile.imwrite(tmp_path / "o.tif", array, photometric="rgb", extratags=[(274, "H", 1, orientation, True)])
    raster = eio.decode(tmp_path / "o.tif")
    np.testing.assert_array_equal(raster.array, _orient(array, orientation))
    if raster.meta.exif:
        exif = PIL.Image.Exif()
        exif.load(raster.meta.exif)
        assert exif.get(0x0112, 1) == 1


def test_xmp_orientation_is_reset_with_exif(tmp_path):
    xmp = '<x:xmpmeta><rdf:Description tiff:Orientation="6"/></x:xmpmeta>'
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    PIL.Image.fromarray(random_u8(2, 3, 3)).save(tmp_path / "x.png", pnginfo=info, exif=exif_bytes(6))
    meta = eio.decode(tmp_path / "x.png").meta
    assert 'tiff:Orientation="1"' in meta.text["XML:com.adobe.xmp"]


# -- metadata through read → write -------------------------------------------------------------


def test_png_metadata_survives_resize_only_pipeline(tmp_path):
    """Acceptance: ICC, EXIF and the `parameters` chunk come through a resize unchanged."""
    source = png_with_metadata(tmp_path / "in.png", random_u8(16, 24, 3))
    image = eio.read(source)
    resized = torch.nn.functional.interpolate(image.pixels[None], size=(32, 48), mode="bilinear")[0]
    out = eio.write(image.replace(pixels=resized), tmp_path / "out" / "in.png")
    back = eio.decode(out)
    assert back.array.shape == (32, 48, 3)
    assert_metadata_kept(back.meta)
    # the non-Latin prompt stays an iTXt chunk with its language tag and translated keyword
    prompt = PIL.Image.open(out).text["prompt"]
    assert isinstance(prompt, iTXt) and prompt.lang == "ja" and prompt.tkey == "プロンプト"
    assert {b"iCCP", b"eXIf", b"tEXt", b"iTXt", b"pHYs"} <= set(chunk_types(out.read_bytes()))


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_metadata_survives_16bit_output(tmp_path, channels):
    source = png_with_metadata(tmp_path / "in.png", random_u8(8, 8, channels))
    image = eio.read(source)
    out = eio.write(image, tmp_path / "out.png", bit_depth=16)
    back = eio.decode(out)
    assert back.array.dtype == np.uint16
    assert back.array.shape[2] == (4 if channels == 2 else channels)  # 16-bit gray+alpha goes out as RGBA
    meta = back.meta
    if channels == 1:
        assert meta.icc_profile is None  # an RGB profile does not describe gray pixels: dropped
        meta.icc_profile = srgb_icc()
    assert_metadata_kept(meta)
    # the chunk splice is valid PNG: every CRC checks out and the pixels are the 8-bit ones scaled
    for kind, data, start, end in iter_chunks(out.read_bytes()):
        raw = out.read_bytes()[start:end]
        assert struct.unpack(">I", raw[-4:])[0] == zlib.crc32(kind + data)
    original = eio.decode(source).array.astype(np.uint16) * 257
    if channels == 2:
        original = original[:, :, [0, 0, 0, 1]]
    np.testing.assert_array_equal(back.array, original)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_png_in_16bit_png_out_exactly(tmp_path, channels):
    array = random_u16(9, 11, channels)
    (tmp_path / "in.png").write_bytes(cv2_png16(array))
    image = eio.read(tmp_path / "in.png")
    for bit_depth in (16, None):  # None: as the source
        out = eio.write(image, tmp_path / f"out{bit_depth}.png", bit_depth=bit_depth)
        np.testing.assert_array_equal(eio.decode(out).array, array)


def test_16bit_png_with_metadata_round_trips(tmp_path):
    from enhance.io.pngchunks import insert_chunks, metadata_chunks

    array = random_u16(5, 5, 3)
    chunks = metadata_chunks(icc_profile=srgb_icc(), exif=exif_bytes(1), text={"parameters": PARAMETERS}, dpi=(72, 72))
    (tmp_path / "in.png").write_bytes(insert_chunks(cv2_png16(array), chunks))
    raster = eio.decode(tmp_path / "in.png")
    assert raster.meta.text == {"parameters": PARAMETERS}
    out = eio.encode(raster, tmp_path / "out.png")
    back = eio.decode(out)
    np.testing.assert_array_equal(back.array, array)
    assert back.meta.icc_profile == srgb_icc() and back.meta.text == {"parameters": PARAMETERS}
    assert back.meta.exif == raster.meta.exif


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_parameters_go_to_exif_user_comment_where_png_text_cannot(tmp_path, suffix):
    source = png_with_metadata(tmp_path / "in.png", random_u8(8, 8, 3))
    out = eio.write(eio.read(source), tmp_path / f"out{suffix}")
    meta = eio.decode(out).meta
    assert exif_user_comment(meta) == PARAMETERS
    exif = PIL.Image.Exif()
    exif.load(meta.exif)
    assert exif[0x010F] == "TestCam"
    assert meta.icc_profile == srgb_icc()
    assert meta.text == {}  # other keys (prompt, workflow) are dropped there, as documented


@pytest.mark.parametrize("array", [random_u16(6, 6, 3), random_u8(6, 6, 4), random_u8(6, 6, 1)], ids=str)
def test_tiff_keeps_icc_resolution_and_parameters_as_description(tmp_path, array):
    meta = Metadata(icc_profile=srgb_icc(), exif=exif_bytes(), text={"parameters": PROMPT_JA}, dpi=(300.0, 300.0))
    out = eio.encode(Raster(array, meta), tmp_path / "o.tiff")
    back = eio.decode(out)
    np.testing.assert_array_equal(back.array, array)
    assert back.meta.icc_profile == (srgb_icc() if array.shape[2] > 1 else None)
    assert back.meta.dpi == pytest.approx((300, 300))
    with tifffile.TiffFile(out) as tif:
        assert tif.pages[0].tags["ImageDescription"].value == PROMPT_JA


def test_icc_profile_of_another_colour_space_is_dropped(tmp_path):
    gray = Raster(random_u8(4, 4, 1), Metadata(icc_profile=srgb_icc()))
    assert eio.decode(eio.encode(gray, tmp_path / "g.png")).meta.icc_profile is None
    rgb = Raster(random_u8(4, 4, 3), Metadata(icc_profile=srgb_icc()))
    assert eio.decode(eio.encode(rgb, tmp_path / "c.png")).meta.icc_profile == srgb_icc()


# -- 8-bit quantization ------------------------------------------------------------------------


def test_dither_is_repeatable_for_a_seed_and_unbiased(tmp_path):
    level = 100.3 / 255.0
    image = to_image(Raster(np.zeros((128, 128, 3), np.float32) + level))
    a = eio.decode(eio.write(image, tmp_path / "a.png", seed=7)).array
    b = eio.decode(eio.write(image, tmp_path / "b.png", seed=7)).array
    c = eio.decode(eio.write(image, tmp_path / "c.png", seed=8)).array
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.mean() == pytest.approx(100.3, abs=0.02)  # rounding alone would give 100.0
    assert len(np.unique(a)) > 1


def test_without_dither_8bit_output_is_rounding(tmp_path):
    values = RNG.random((16, 16, 3), dtype=np.float32)
    image = to_image(Raster(values))
    out = eio.decode(eio.write(image, tmp_path / "r.png", dither=False)).array
    np.testing.assert_array_equal(out, np.rint(values.astype(np.float64) * 255).astype(np.uint8))
    flat = to_image(Raster(np.zeros((64, 64, 3), np.float32) + 100.3 / 255.0))
    assert (eio.decode(eio.write(flat, tmp_path / "f.png", dither=False)).array == 100).all()


def test_alpha_is_not_dithered(tmp_path):
    values = np.concatenate([np.full((32, 32, 3), 0.5, np.float32), np.ones((32, 32, 1), np.float32)], axis=2)
    out = eio.decode(eio.write(to_image(Raster(values)), tmp_path / "a.png")).array
    assert (out[..., 3] == 255).all()


# -- atomic writes and inputs ------------------------------------------------------------------


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if eio.TEMP_MARKER in p.name]


def test_interrupted_write_leaves_previous_output_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    eio.encode(Raster(random_u8(4, 4, 3)), target)
    before = target.read_bytes()

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)  # after the temp file is written, before the rename
    with pytest.raises(KeyboardInterrupt):
        eio.encode(Raster(random_u8(8, 8, 3)), target)
    assert target.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["new.png", "new.jpg"])
def test_failing_encoder_leaves_nothing(tmp_path, monkeypatch, name):
    def broken_save(*args, **kwargs):
        raise RuntimeError("encoder died")

    monkeypatch.setattr(PIL.Image.Image, "save", broken_save)
    monkeypatch.setattr("enhance.io.pngwrite.encode_png_pixels", broken_save)  # PNG pixels: libvips or Pillow
    with pytest.raises(RuntimeError, match="encoder died"):
        eio.encode(Raster(random_u8(4, 4, 3)), tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_written_file_follows_umask_and_stale_temps_are_removed(tmp_path):
    old = os.umask(0o022)
    try:
        out = eio.encode(Raster(random_u8(4, 4, 3)), tmp_path / "sub" / "o.png")
    finally:
        os.umask(old)
    assert out.exists() and (out.stat().st_mode & 0o777) == 0o644
    assert leftovers(out.parent) == []
    stale = out.parent / f"{eio.TEMP_MARKER}-{'d' * 32}"
    other = tmp_path / f"{eio.TEMP_MARKER}-{'e' * 32}.png"
    lookalike = tmp_path / f"x.png{eio.TEMP_MARKER}-crash"  # not enhance's name: kept
    for path in (stale, other, lookalike):
        path.write_bytes(b"partial")
    assert sorted(eio.remove_stale_temps(tmp_path)) == sorted([stale, other])
    assert out.exists() and not stale.exists() and not other.exists() and lookalike.exists()


def test_atomic_output_replaces_on_success_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "manifest.json"
    with eio.atomic_output(target) as temp:
        assert eio.TEMP_MARKER in temp.name and temp.parent == tmp_path and temp.name.startswith(".")
        temp.write_text("first")
        assert not target.exists()  # nothing under the real name until the block succeeds
    assert target.read_text() == "first"
    with pytest.raises(ValueError), eio.atomic_output(target) as temp:
        temp.write_text("half")
        raise ValueError("serialiser failed")
    assert target.read_text() == "first"
    assert leftovers(tmp_path) == []


def test_16bit_output_is_never_dithered(tmp_path):
    array = random_u16(8, 8, 3)
    image = to_image(Raster(array))
    np.testing.assert_array_equal(from_image(image, bit_depth=16, dither=True, seed=3).array, array)


def test_output_never_overwrites_its_input(tmp_path):
    source = tmp_path / "in.png"
    PIL.Image.fromarray(random_u8(4, 4, 3)).save(source)
    before = source.read_bytes()
    image = eio.read(source)
    os.link(source, tmp_path / "hardlink.png")
    for target in (source, tmp_path / "." / "in.png", Path(os.path.relpath(source)), tmp_path / "hardlink.png"):
        with pytest.raises(ValueError, match="never overwrite"):
            eio.write(image, target)
    with pytest.raises(ValueError, match="never overwrite"):
        eio.encode(eio.decode(source), source)
    assert source.read_bytes() == before
    eio.write(image, source, overwrite_source=True, dither=False)  # an explicit opt-in
    np.testing.assert_array_equal(eio.decode(source).array, np.asarray(PIL.Image.open(io.BytesIO(before))))


# -- bad input ---------------------------------------------------------------------------------


def good_png() -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(random_u8(64, 64, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def huge_png(width: int, height: int) -> bytes:
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b"")


def jpeg() -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(random_u8(64, 64, 3)).save(buffer, "JPEG")
    return buffer.getvalue()


BAD_INPUTS = {
    "empty.png": (lambda: b"", "empty (0 bytes)"),
    "truncated.png": (lambda: good_png()[: len(good_png()) // 2], "truncated or corrupt"),
    "cut_header.png": (lambda: good_png()[:20], "header is truncated"),
    "truncated.jpg": (lambda: jpeg()[: len(jpeg()) // 2], "truncated or corrupt"),
    "notes.png": (lambda: b"just some notes, not an image\n" * 4, "holds text"),
    "noise.png": (lambda: bytes(range(256)) * 4, "not an image"),
    "bomb.png": (lambda: huge_png(17000, 17000), "2**28"),
    "bigger_bomb.png": (lambda: huge_png(30000, 30000), "2**28"),
    "heic.png": (lambda: b"\0\0\0\x18ftypheic" + b"\0" * 64, "HEIF/HEIC images are not supported"),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_raises_one_line_input_error_naming_the_file(tmp_path, name):
    make, reason = BAD_INPUTS[name]
    path = tmp_path / name
    path.write_bytes(make())
    with pytest.raises(InputError) as caught:
        eio.decode(path)
    message = str(caught.value)
    assert message.startswith(str(path) + ": ")
    assert reason in message
    assert "\n" not in message and ";" in message  # one line: what is wrong; what to do


def test_missing_file_and_folder_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        eio.decode(tmp_path / "nope.png")
    with pytest.raises(InputError, match="is a folder"):
        eio.decode(tmp_path)


def test_unsupported_pixel_mode_is_an_input_error(tmp_path):
    PIL.Image.new("LAB", (4, 4)).save(tmp_path / "lab.tif")
    with pytest.raises(InputError, match=r"lab\.tif: pixel mode LAB is not supported"):
        eio.decode(tmp_path / "lab.tif")


def test_a_good_image_under_a_wrong_suffix_decodes(tmp_path):
    (tmp_path / "really_jpeg.png").write_bytes(jpeg())
    assert eio.decode(tmp_path / "really_jpeg.png").meta.format == "JPEG"


# -- formats -----------------------------------------------------------------------------------


def test_format_helpers():
    assert [eio.format_for_suffix(s) for s in (".png", "JPG", ".jpeg", ".WebP", ".tif", "tiff")] == [
        "PNG",
        "JPEG",
        "JPEG",
        "WEBP",
        "TIFF",
        "TIFF",
    ]
    assert [eio.suffix_for_format(f) for f in ("png", "JPEG", "jpg", "webp", "TIFF")] == [
        ".png",
        ".jpg",
        ".jpg",
        ".webp",
        ".tif",
    ]
    assert all(eio.format_for_suffix(s) for s in eio.SUPPORTED_SUFFIXES)
    with pytest.raises(ValueError, match="unsupported image suffix"):
        eio.format_for_suffix(".bmp")
    with pytest.raises(ValueError, match="enhance does not write GIF files"):
        eio.suffix_for_format("gif")


def test_format_argument_overrides_suffix_and_no_suffix_is_refused(tmp_path):
    raster = Raster(random_u8(4, 4, 3))
    out = eio.encode(raster, tmp_path / "image.bin", format="webp", lossless=True)
    assert out.read_bytes()[8:12] == b"WEBP"
    with pytest.raises(ValueError, match="no suffix"):
        eio.encode(raster, tmp_path / "image")


@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
def test_16bit_jpeg_or_webp_is_refused(tmp_path, suffix):
    image = to_image(Raster(random_u16(4, 4, 3)))
    with pytest.raises(ValueError, match="8-bit samples only"):
        eio.write(image, tmp_path / f"x{suffix}", bit_depth=16)
    with pytest.raises(ValueError, match="8-bit samples only"):
        eio.encode(Raster(random_u16(4, 4, 3)), tmp_path / f"x{suffix}")
    assert list(tmp_path.iterdir()) == []
    # bit_depth=None follows the source only where the format can: JPEG/WebP fall back to 8 bits
    assert eio.decode(eio.write(image, tmp_path / f"y{suffix}", bit_depth=None)).array.dtype == np.uint8


def test_alpha_to_jpeg_is_composited_on_white(tmp_path):
    array = np.zeros((16, 48, 4), np.uint8)
    array[..., :3] = (200, 40, 40)
    array[:, 16:32, 3] = 128
    array[:, 32:, 3] = 255
    out = eio.decode(eio.encode(Raster(array), tmp_path / "a.jpg", quality=100)).array.astype(int)
    assert out.shape == (16, 48, 3)
    np.testing.assert_allclose(out[8, 4], (255, 255, 255), atol=3)  # transparent → white
    np.testing.assert_allclose(out[8, 24], (228, 147, 147), atol=4)  # half → halfway to white
    np.testing.assert_allclose(out[8, 44], (200, 40, 40), atol=4)  # opaque → its colour


@pytest.mark.shared
@pytest.mark.parametrize(
    "suffix, options, min_psnr",
    [
        (".png", {}, float("inf")),
        (".tif", {}, float("inf")),
        (".webp", {"lossless": True}, float("inf")),
        (".webp", {"quality": 90}, 32.0),
        (".jpg", {"quality": 95}, 38.0),
    ],
)
def test_kodak_round_trips(tmp_path, suffix, options, min_psnr):
    source = KODAK / "kodim23.png"
    image = eio.read(source)
    out = eio.write(image, tmp_path / f"k{suffix}", dither=False, **options)
    original = eio.decode(source).array
    back = eio.decode(out).array
    assert back.shape == original.shape and back.dtype == np.uint8
    assert psnr(back, original) >= min_psnr


@pytest.mark.shared
def test_kodak_16bit_tiff_round_trip(tmp_path):
    image = eio.read(KODAK / "kodim05.png")
    out = eio.write(image, tmp_path / "k.tif", bit_depth=16)
    back = eio.decode(out).array
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, eio.decode(KODAK / "kodim05.png").array.astype(np.uint16) * 257)


# -- PIL conversions used by enhance.convert.coerce --------------------------------------------


def test_pil_round_trip_keeps_pixels_mode_and_metadata(tmp_path):
    for mode, channels in (("L", 1), ("LA", 2), ("RGB", 3), ("RGBA", 4)):
        array = random_u8(3, 4, channels)
        im = PIL.Image.fromarray(array[:, :, 0] if channels == 1 else array)
        im.info.update({"icc_profile": srgb_icc(), "parameters": PARAMETERS})
        raster = eio.raster_from_pil(im)
        np.testing.assert_array_equal(raster.array, array)
        assert raster.meta.text == {"parameters": PARAMETERS} and raster.meta.icc_profile == srgb_icc()
        back = eio.pil_from_raster(raster)
        assert back.mode == mode
        np.testing.assert_array_equal(np.asarray(back).reshape(array.shape), array)
        assert back.info["parameters"] == PARAMETERS


def test_pil_from_16bit_raster_rounds_to_8_bits():
    raster = Raster(np.array([[[0], [257], [32896], [65535], [128]]], np.uint16))
    assert np.asarray(eio.pil_from_raster(raster)).tolist() == [[0, 1, 128, 255, 0]]


def test_raster_from_pil_does_not_rotate_and_keeps_orientation(tmp_path):
    PIL.Image.fromarray(random_u8(3, 5, 3)).save(tmp_path / "o.jpg", exif=exif_bytes(6))
    im = PIL.Image.open(tmp_path / "o.jpg")
    raster = eio.raster_from_pil(im)
    assert raster.array.shape == (3, 5, 3)
    exif = PIL.Image.Exif()
    exif.load(raster.meta.exif)
    assert exif[0x0112] == 6  # still describes these (unrotated) pixels


def test_coerce_and_restore_a_pil_image():
    array = random_u8(5, 6, 3)
    image, kind = coerce(PIL.Image.fromarray(array))
    back = restore_kind(image, kind)
    assert isinstance(back, PIL.Image.Image) and back.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(back), array)


def test_read_uploads_float_planes(tmp_path):
    array = random_u8(3, 4, 4)
    PIL.Image.fromarray(array).save(tmp_path / "a.png")
    image = eio.read(tmp_path / "a.png")
    assert image.pixels.shape == (3, 3, 4) and image.alpha is not None
    np.testing.assert_array_equal(from_image(image).array, array)


def test_importing_io_loads_no_heavy_modules():
    code = "import sys, enhance.io; print(sorted(m for m in ('numpy', 'PIL', 'cv2', 'torch') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_no_warnings_when_decoding_a_normal_file(tmp_path):
    png_with_metadata(tmp_path / "in.png", random_u8(4, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eio.decode(tmp_path / "in.png")
