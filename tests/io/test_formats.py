"""The formats added for provenance-era inputs and outputs: AVIF and JPEG XL in and out (ICC, EXIF,
XMP kept as each can), GIF in, animations (first frame, said), float TIFF in (linear or encoded,
said), and what an ICC profile tells."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import tifffile
from PIL import ImageCms
from pydantic import ValidationError

from enhance import io as eio
from enhance.config import OutputSpec
from enhance.errors import InputError
from enhance.image import Metadata, Raster
from enhance.io.icc import describe, is_srgb, tone_curve
from enhance.io.metadata import XMP_KEY
from tests.io.profiles import SRGB, rgb_profile

RNG = np.random.default_rng(7)
XMP = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></x:xmpmeta>'
)


def smooth(h: int = 48, w: int = 64, c: int = 3) -> np.ndarray:
    """A smooth colour ramp (lossy codecs keep it within a few codes)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = [x / w * 255, y / h * 255, (x + y) / (w + h) * 255, np.full_like(x, 180)][:c]
    return np.rint(np.stack(planes, axis=2)).astype(np.uint8)


def exif(make: str = "TestCam") -> bytes:
    tags = PIL.Image.Exif()
    tags[0x010F] = make
    return tags.tobytes()


def meta(**fields: object) -> Metadata:
    return Metadata(**{"exif": exif(), "text": {XMP_KEY: XMP}, **fields})  # type: ignore[arg-type]


# -- AVIF ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_avif_round_trips_8bit_with_icc_exif_and_xmp(tmp_path, channels: int) -> None:
    pixels = smooth(c=channels) if channels > 1 else smooth()[:, :, :1]
    profile = rgb_profile() if channels > 1 else None
    out = eio.encode(Raster(pixels, meta(icc_profile=profile)), tmp_path / "out.avif")
    back = eio.decode(out)
    assert back.meta.format == "AVIF" and back.meta.bit_depth == 8
    expected = pixels if channels > 1 else pixels[:, :, [0, 0, 0]]  # gray is written (and read) as RGB
    assert back.array.shape == expected.shape
    assert np.abs(back.array.astype(int) - expected).mean() < 2  # quality 90, 4:4:4
    if channels == 4:
        assert np.array_equal(back.array[:, :, 3], pixels[:, :, 3])  # alpha kept
    if profile is not None:
        assert back.meta.icc_profile == profile
    assert back.meta.exif is not None and b"TestCam" in back.meta.exif
    assert back.meta.text[XMP_KEY] == XMP


def test_avif_uses_enhance_defaults_and_quality() -> None:
    raster = Raster(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    default = eio.encode_bytes(raster, "avif")
    assert default == eio.encode_bytes(raster, "avif", quality=eio.DEFAULT_QUALITY["AVIF"])
    assert len(eio.encode_bytes(raster, "avif", quality=40)) < len(default)


# -- JPEG XL -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_jxl_lossless_round_trips_exactly_with_exif(tmp_path, channels: int) -> None:
    pixels = RNG.integers(0, 256, (24, 40, channels), dtype=np.uint8)
    out = eio.encode(Raster(pixels, meta()), tmp_path / "out.jxl", lossless=True)
    data = out.read_bytes()
    assert data.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n")  # a container: c2pa can sign it
    assert XMP.encode() in data  # an 'xml ' box (the plugin does not read it back)
    back = eio.decode(out)
    assert back.meta.format == "JXL" and np.array_equal(back.array, pixels)
    assert b"TestCam" in back.meta.exif


def test_jxl_lossy_is_close_and_smaller(tmp_path) -> None:
    pixels = smooth(96, 128)
    lossy = eio.encode(Raster(pixels), tmp_path / "lossy.jxl")
    lossless = eio.encode(Raster(pixels), tmp_path / "lossless.jxl", lossless=True)
    assert lossy.stat().st_size < lossless.stat().st_size
    assert np.abs(eio.decode(lossy).array.astype(int) - pixels).mean() < 2


def test_jxl_converts_a_wide_gamut_source_to_srgb_and_says_so(tmp_path) -> None:
    pixels = smooth()
    p3 = rgb_profile("Test Display P3")
    raster = Raster(pixels, Metadata(icc_profile=p3))
    notes = eio.encode_notes(raster.meta, "jxl")
    assert notes == [
        "JPEG XL output keeps no ICC profile here: converted from Test Display P3 to sRGB (colours outside sRGB clip)"
    ]
    back = eio.decode(eio.encode(raster, tmp_path / "p3.jxl", lossless=True))
    expected = ImageCms.profileToProfile(
        PIL.Image.fromarray(pixels),
        ImageCms.ImageCmsProfile(io.BytesIO(p3)),
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )
    assert np.array_equal(back.array, np.asarray(expected))  # the colours, not the numbers, are kept
    assert is_srgb(back.meta.icc_profile)  # what the decoder reports for the file
    # an sRGB source needs nothing
    assert eio.encode_notes(Metadata(icc_profile=rgb_profile("sRGB look-alike", SRGB)), "jxl") == []
    assert eio.encode_notes(Metadata(icc_profile=p3), "png") == []


def test_jxl_without_its_plugin_says_how_to_get_it(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = eio.encode(Raster(smooth()), tmp_path / "in.jxl")
    monkeypatch.setitem(sys.modules, "pillow_jxl", None)
    with pytest.raises(InputError, match=r"in\.jxl: reading JPEG XL needs pillow-jxl-plugin .*enhance\[jxl\]"):
        eio.decode(path)
    with pytest.raises(ValueError, match=r"enhance\[jxl\]"):
        eio.encode_bytes(Raster(smooth()), "jxl")
    with pytest.raises(ValidationError, match=r"format jxl needs pillow-jxl-plugin"):
        OutputSpec(format="jxl")


@pytest.mark.parametrize("fmt", ["avif", "jxl"])
def test_16bit_avif_and_jxl_output_is_refused(fmt: str) -> None:
    with pytest.raises(ValueError, match="holds 8-bit samples only"):
        eio.encode_bytes(Raster(np.zeros((4, 4, 3), np.uint16)), fmt)
    with pytest.raises(ValidationError, match="bit_depth 16 needs format png or tiff"):
        OutputSpec(format=fmt, bit_depth=16)


def test_output_spec_picks_formats_for_new_inputs() -> None:
    same = OutputSpec(format="same")
    assert same.format_for(Path("a.gif")) == "PNG"  # GIF is read only
    assert same.suffix_for(Path("a.gif")) == ".png"
    assert same.suffix_for(Path("a.AVIF")) == ".AVIF"
    assert OutputSpec(format="avif").encode_options() == {"format": "avif", "quality": 90, "lossless": False}
    assert OutputSpec(format="jpeg").encode_options()["quality"] == 95


# -- GIF and animations --------------------------------------------------------------------------------


def frames(n: int) -> list[PIL.Image.Image]:
    return [PIL.Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)) for i in range(n)]


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG", "AVIF"])
def test_an_animation_gives_its_first_frame_and_says_so(tmp_path, fmt: str) -> None:
    path = tmp_path / f"anim.{fmt.lower()}"
    first, *rest = frames(3)
    options = {"lossless": True} if fmt == "WEBP" else {"quality": 100} if fmt == "AVIF" else {}
    first.save(path, fmt, save_all=True, append_images=rest, duration=100, **options)
    raster = eio.decode(path)
    assert np.abs(raster.array.astype(int) - 0).max() <= 2  # the first frame (all 0), not a later one
    assert raster.meta.warnings == [f"animated {fmt} (3 frames): only the first frame was processed"]


def test_a_still_gif_reads_without_warning(tmp_path) -> None:
    pixels = np.full((8, 8, 3), 200, np.uint8)
    PIL.Image.fromarray(pixels).save(tmp_path / "still.gif")
    raster = eio.decode(tmp_path / "still.gif")
    assert raster.meta.format == "GIF" and raster.meta.warnings == []
    assert np.array_equal(raster.array, pixels)


# -- float TIFF ----------------------------------------------------------------------------------------


def float_tiff(path, values: np.ndarray, **options: object):
    tifffile.imwrite(path, values, **options)
    return path


def srgb_encode(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.power(np.maximum(v, 1e-12), 1 / 2.4) - 0.055)


def test_a_float_tiff_without_profile_is_linear_light(tmp_path) -> None:
    linear = RNG.random((8, 12, 3), dtype=np.float32)
    raster = eio.decode(float_tiff(tmp_path / "lin.tif", linear, photometric="rgb"))
    assert raster.array.dtype == np.uint16 and raster.meta.bit_depth == 16 and raster.meta.mode == "RGB;F32"
    expected = np.rint(srgb_encode(linear.astype(np.float64)) * 65535)
    assert np.abs(raster.array - expected).max() <= 1
    assert raster.meta.warnings == [
        "32-bit float TIFF read as linear light (no ICC profile: assumed linear light), encoded with the sRGB curve"
    ]
    assert raster.meta.icc_profile is None


def test_a_float_tiff_with_an_encoded_profile_keeps_values_and_profile(tmp_path) -> None:
    values = RNG.random((8, 12, 3), dtype=np.float32)
    profile = rgb_profile("Test P3", trc=2.2)
    raster = eio.decode(float_tiff(tmp_path / "enc.tif", values, photometric="rgb", iccprofile=profile))
    assert np.abs(raster.array - np.rint(values * 65535)).max() <= 1
    assert raster.meta.icc_profile == profile
    assert raster.meta.warnings == [
        "32-bit float TIFF read as encoded values (its ICC profile's tone curve is gamma 2.20)"
    ]


def test_a_float_tiff_with_a_linear_profile_is_encoded_and_the_profile_dropped(tmp_path) -> None:
    values = RNG.random((8, 12, 3), dtype=np.float32) * 1.5  # HDR highlights above 1
    profile = rgb_profile("Linear Rec709", SRGB, trc="linear")
    raster = eio.decode(float_tiff(tmp_path / "hdr.tif", values, photometric="rgb", iccprofile=profile))
    assert raster.meta.icc_profile is None
    assert raster.meta.warnings[0].endswith("(its ICC profile has a linear tone curve), encoded with the sRGB curve")
    assert raster.meta.warnings[1] == (
        "its linear ICC profile (Linear Rec709) was dropped: the pixels are sRGB-encoded now"
    )
    assert "above 1.0 (HDR highlights) and were clipped" in raster.meta.warnings[2]
    assert raster.array.max() == 65535


def test_float_tiff_layouts(tmp_path) -> None:
    gray = RNG.random((6, 5), dtype=np.float32)  # Pillow opens this one as mode F, which enhance did not take
    assert eio.decode(float_tiff(tmp_path / "g.tif", gray)).array.shape == (6, 5, 1)
    half = RNG.random((6, 5, 3)).astype(np.float16)
    assert eio.decode(float_tiff(tmp_path / "h.tif", half, photometric="rgb")).meta.mode == "RGB;F16"
    planar = np.moveaxis(RNG.random((6, 5, 3), dtype=np.float32), -1, 0)
    contig = eio.decode(float_tiff(tmp_path / "c.tif", np.moveaxis(planar, 0, -1), photometric="rgb"))
    separate = eio.decode(float_tiff(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate"))
    assert np.array_equal(contig.array, separate.array)
    # associated (premultiplied) alpha becomes straight alpha
    colour = np.full((4, 4, 3), 0.25, np.float32)
    alpha = np.full((4, 4, 1), 0.5, np.float32)
    rgba = np.concatenate([colour * alpha, alpha], axis=2)
    raster = eio.decode(float_tiff(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["assocalpha"]))
    assert abs(int(raster.array[0, 0, 0]) - round(float(srgb_encode(np.float64(0.25))) * 65535)) <= 1
    assert raster.array[0, 0, 3] == 32768


def test_a_float_tiff_is_written_as_16bit(tmp_path) -> None:
    raster = eio.decode(float_tiff(tmp_path / "f.tif", RNG.random((8, 8, 3), dtype=np.float32), photometric="rgb"))
    out = eio.decode(eio.encode(raster, tmp_path / "out.tif"))
    assert out.meta.bit_depth == 16 and np.array_equal(out.array, raster.array)


# -- ICC -----------------------------------------------------------------------------------------------


def test_what_a_profile_says() -> None:
    builtin = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    assert is_srgb(builtin) and tone_curve(builtin) == "srgb"
    p3 = rgb_profile("Test Display P3")
    assert describe(p3) == "Test Display P3" and tone_curve(p3) == "srgb" and not is_srgb(p3)
    assert tone_curve(rgb_profile(trc="linear")) == "linear"
    assert tone_curve(rgb_profile(trc=1.8)) == "gamma 1.80"
    assert is_srgb(rgb_profile("unnamed", SRGB))  # sRGB's primaries and curve, whatever the name
    assert not is_srgb(rgb_profile("unnamed", SRGB, trc="linear"))
    assert tone_curve(b"not a profile") == "other" and describe(b"") is None
