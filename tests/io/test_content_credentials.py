"""Content credentials through the codecs: the decoder records what a source's manifest claims,
and no output, in any format, carries the source's manifest or a reference to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from enhance import io as eio
from enhance.credentials.detect import find_credentials, remote_reference
from enhance.io.metadata import XMP_KEY
from tests.c2pa_kit import TRAINED, Pki, image_bytes, make_pki, read_store, sign_as_generator

pytest.importorskip("c2pa")

#: every output enhance writes: (format, bit depth)
OUTPUTS = [
    ("png", 8),
    ("png", 16),
    ("jpeg", 8),
    ("webp", 8),
    ("tiff", 8),
    ("tiff", 16),
    ("avif", 8),
    ("jxl", 8),
]
REMOTE = "https://manifests.example.invalid/abc.c2pa"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def sources(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Generator-signed PNG and JPEG (embedded manifests), and a PNG and a JPEG whose manifest is remote."""
    folder = Path(tmp_path_factory.mktemp("signed"))
    made = {}
    for name, fmt, remote in (
        ("signed.png", "PNG", None),
        ("signed.jpg", "JPEG", None),
        ("remote.png", "PNG", REMOTE),
        ("remote.jpg", "JPEG", REMOTE),
    ):
        made[name] = folder / name
        made[name].write_bytes(sign_as_generator(image_bytes(fmt, size=(48, 32)), fmt, pki, remote_url=remote))
    return made


@pytest.mark.parametrize("name", ["signed.png", "signed.jpg"])
def test_the_decoder_records_what_the_source_claims(sources: dict[str, Path], name: str) -> None:
    credentials = eio.decode(sources[name]).meta.content_credentials
    assert credentials is not None and credentials.verified and credentials.state == "Valid"
    assert credentials.digital_source_type == TRAINED and credentials.ai_generated
    assert credentials.claim_generator == "FakeGen Image Model 3.0"


@pytest.mark.parametrize("name", ["remote.png", "remote.jpg"])
def test_the_decoder_records_a_remote_manifest_and_keeps_the_xmp(sources: dict[str, Path], name: str) -> None:
    raster = eio.decode(sources[name])
    credentials = raster.meta.content_credentials
    assert credentials is not None and credentials.remote_url == REMOTE and not credentials.verified
    assert remote_reference(raster.meta.text[XMP_KEY]) == REMOTE  # held, to be stripped on the way out


def test_a_source_without_credentials_records_none(tmp_path: Path) -> None:
    (tmp_path / "plain.png").write_bytes(image_bytes("PNG"))
    assert eio.decode(tmp_path / "plain.png").meta.content_credentials is None


@pytest.mark.parametrize(("fmt", "depth"), OUTPUTS)
@pytest.mark.parametrize("name", ["signed.png", "signed.jpg", "remote.png", "remote.jpg"])
def test_no_output_carries_the_source_manifest_or_a_reference_to_it(
    sources: dict[str, Path], tmp_path: Path, name: str, fmt: str, depth: int
) -> None:
    raster = eio.decode(sources[name])
    if depth == 16:
        raster.array = raster.array.astype("uint16") * 257
    out = eio.encode(raster, tmp_path / f"out.{fmt}")
    data = out.read_bytes()
    assert find_credentials(data) is None
    assert b"provenance" not in data and REMOTE.encode() not in data
    assert read_store(data, fmt.upper()) is None
    if name.startswith("remote"):
        assert b"x:xmpmeta" in data  # the rest of the XMP travels on
