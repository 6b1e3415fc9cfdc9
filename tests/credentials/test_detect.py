"""Finding content credentials in a file's bytes without c2pa: every container c2pa signs, remote
manifests referenced from XMP, and damaged files (never an error)."""

from __future__ import annotations

import struct

import pytest

from enhance.credentials.detect import (
    container_of,
    find_credentials,
    find_manifest_store,
    remote_reference,
    strip_provenance,
)
from tests.c2pa_kit import Pki, image_bytes, jxl_container, sign_as_generator

pytest.importorskip("c2pa")

#: format -> (the unsigned file, where the manifest store goes)
CONTAINERS = {
    "PNG": ("PNG caBX chunk", {}),
    "JPEG": ("JPEG APP11 JUMBF segments", {"quality": 90}),
    "WEBP": ("WebP C2PA chunk", {}),
    "TIFF": ("TIFF tag 52545", {}),
    "AVIF": ("ISO-BMFF uuid box", {"quality": 80}),
    "GIF": ("GIF C2PA_GIF application extension", {}),
}


def unsigned(fmt: str) -> bytes:
    if fmt == "JXL":
        return jxl_container()
    return image_bytes(fmt, **CONTAINERS[fmt][1])


@pytest.mark.parametrize("fmt", [*CONTAINERS, "JXL"])
def test_a_signed_file_is_found_where_its_container_keeps_the_manifest(pki: Pki, fmt: str) -> None:
    plain = unsigned(fmt)
    signed = sign_as_generator(plain, fmt, pki)
    where = CONTAINERS[fmt][0] if fmt in CONTAINERS else "JPEG XL jumb box"
    assert find_manifest_store(plain) is None
    assert find_manifest_store(signed) == where
    found = find_credentials(signed)
    assert found is not None and found.embedded and found.container == fmt and found.where == where


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_remote_manifest_is_found_by_its_xmp_reference(pki: Pki, fmt: str) -> None:
    url = "https://manifests.example.invalid/abc.c2pa"
    signed = sign_as_generator(image_bytes(fmt), fmt, pki, remote_url=url)
    assert find_manifest_store(signed) is None  # nothing embedded
    found = find_credentials(signed)
    assert found is not None and not found.embedded
    assert found.remote_url == url and "dcterms:provenance" in found.where


@pytest.mark.parametrize("fmt", [*CONTAINERS, "JXL"])
def test_damaged_files_never_raise(pki: Pki, fmt: str) -> None:
    signed = sign_as_generator(unsigned(fmt), fmt, pki)
    for cut in (1, 8, 13, 20, 40, len(signed) // 3, len(signed) // 2, len(signed) - 1):
        find_credentials(signed[:cut])  # no exception, whatever it says
    broken = bytearray(signed)
    broken[9:40] = b"\xff" * 31  # sizes and offsets turned huge
    find_credentials(bytes(broken))


def test_a_jpeg_xt_box_that_is_not_c2pa_is_not_credentials() -> None:
    jpeg = image_bytes("JPEG")
    # APP11 "JP" with a JUMBF box of another type (a JPEG XT extension, for instance)
    jumd = struct.pack(">I", 8 + 16 + 1) + b"jumd" + b"XTXT" + bytes(12) + b"\x03"
    jumb = struct.pack(">I", 8 + len(jumd)) + b"jumb" + jumd
    payload = b"JP" + b"\x00\x01" + struct.pack(">I", 1) + jumb
    segment = b"\xff\xeb" + struct.pack(">H", 2 + len(payload)) + payload
    assert find_manifest_store(jpeg[:2] + segment + jpeg[2:]) is None


def test_a_bare_jxl_codestream_holds_no_manifest() -> None:
    assert container_of(b"\xff\x0a" + bytes(40)) == "JXL"
    assert find_credentials(b"\xff\x0a" + bytes(40)) is None


def test_other_bytes_are_no_container() -> None:
    assert container_of(b"hello world, not an image") is None
    assert find_credentials(b"hello world, not an image") is None


XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/"
  xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
  dcterms:provenance="https://example.invalid/m.c2pa"
  Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>
</rdf:RDF></x:xmpmeta>"""

XMP_ELEMENT = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:terms="http://purl.org/dc/terms/" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <terms:provenance>https://example.invalid/e.c2pa</terms:provenance>
 <dc:creator>someone</dc:creator>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


def test_remote_reference_reads_the_attribute_and_the_element_under_any_prefix() -> None:
    assert remote_reference(XMP) == "https://example.invalid/m.c2pa"
    assert remote_reference(XMP_ELEMENT.encode()) == "https://example.invalid/e.c2pa"
    # "provenance" in another namespace is not C2PA's reference
    other = XMP.replace("http://purl.org/dc/terms/", "http://example.invalid/ns/")
    assert remote_reference(other) is None
    assert remote_reference(None) is None


def test_strip_provenance_removes_the_reference_and_keeps_the_rest() -> None:
    for xmp in (XMP, XMP_ELEMENT):
        stripped = strip_provenance(xmp)
        assert remote_reference(stripped) is None
        assert "provenance" not in stripped
    assert "Iptc4xmpExt:DigitalSourceType=" in strip_provenance(XMP)  # the unsigned AI label stays
    assert "<dc:creator>someone</dc:creator>" in strip_provenance(XMP_ELEMENT)
    assert strip_provenance(XMP.replace("dcterms:provenance", "dcterms:source")) == XMP.replace(
        "dcterms:provenance", "dcterms:source"
    )


def test_a_png_whose_xmp_is_compressed_is_checked_with_the_xmp_the_decoder_read() -> None:
    png = image_bytes("PNG")  # no XMP in the bytes at all (say it was a compressed iTXt)
    assert find_credentials(png) is None
    found = find_credentials(png, xmp=XMP)
    assert found is not None and found.remote_url == "https://example.invalid/m.c2pa"
