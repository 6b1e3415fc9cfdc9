"""What enhance records about a source's content credentials: the claims and the validation state
as c2pa reads them offline; and what it says without c2pa or for a remote manifest."""

from __future__ import annotations

import sys

import pytest

from enhance.credentials.detect import find_credentials
from enhance.credentials.summary import SourceCredentials, offline_settings, summarize
from enhance.io.pngchunks import chunk, iter_chunks
from tests.c2pa_kit import SIGNER_ORG, TRAINED, Pki, image_bytes, sign_as_generator

pytest.importorskip("c2pa")


def summary_of(data: bytes, **options: object) -> SourceCredentials:
    found = find_credentials(data)
    assert found is not None
    return summarize(data, found, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_generator_signed_source_reads_valid_and_ai_generated(pki: Pki, fmt: str) -> None:
    summary = summary_of(sign_as_generator(image_bytes(fmt), fmt, pki))
    assert summary.verified and summary.state == "Valid" and summary.valid
    assert summary.failures == ()  # 'untrusted' alone is not a failure: nothing is trusted offline
    assert summary.claim_generator == "FakeGen Image Model 3.0"
    assert summary.signer == SIGNER_ORG
    assert summary.digital_source_type == TRAINED and summary.ai_generated is True
    assert summary.actions == ("c2pa.created",)
    line = summary.describe()
    assert "FakeGen Image Model 3.0" in line and "AI-generated (trainedAlgorithmicMedia)" in line
    assert "signature valid" in line and "not checked against a trust list" in line
    record = summary.as_dict()
    assert record["present"] and record["verified"] and record["state"] == "Valid" and record["ai_generated"]


def test_the_users_trust_anchor_makes_it_trusted(pki: Pki) -> None:
    summary = summary_of(sign_as_generator(image_bytes("PNG"), "PNG", pki), trust_anchors=pki.ca_bytes)
    assert summary.state == "Trusted" and summary.valid
    assert "valid and trusted" in summary.describe()


def splice(manifest_from: bytes, into: bytes) -> bytes:
    """A PNG with another PNG's caBX chunk: a manifest carried onto pixels it was not made for."""
    cabx = next(data for kind, data, _, _ in iter_chunks(manifest_from) if kind == b"caBX")
    ihdr_end = next(end for kind, _, _, end in iter_chunks(into) if kind == b"IHDR")
    return into[:ihdr_end] + chunk(b"caBX", cabx) + into[ihdr_end:]


def test_a_manifest_on_other_pixels_reads_invalid_with_the_hash_mismatch(pki: Pki) -> None:
    signed = sign_as_generator(image_bytes("PNG", seed=1), "PNG", pki)
    stale = splice(signed, image_bytes("PNG", seed=2))
    summary = summary_of(stale)
    assert summary.verified and summary.state == "Invalid" and summary.valid is False
    assert "assertion.dataHash.mismatch" in summary.failures
    assert summary.ai_generated is True  # what it claims is still read, and reported as not holding
    assert "INVALID (assertion.dataHash.mismatch" in summary.describe()


def test_a_remote_manifest_is_present_and_not_fetched(pki: Pki) -> None:
    url = "https://manifests.example.invalid/abc.c2pa"
    summary = summary_of(sign_as_generator(image_bytes("JPEG"), "JPEG", pki, remote_url=url))
    assert not summary.verified and summary.state is None and summary.valid is None
    assert summary.remote_url == url
    assert "not fetch" in (summary.note or "")
    assert summary.as_dict()["remote_url"] == url


def test_without_c2pa_the_credentials_are_present_and_not_verified(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    signed = sign_as_generator(image_bytes("PNG"), "PNG", pki)
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now raises ImportError
    summary = summary_of(signed)
    assert not summary.verified and summary.state is None
    assert summary.note == "install enhance[c2pa] to verify them"
    assert summary.describe() == (
        "content credentials present (PNG caBX chunk), not verified: install enhance[c2pa] to verify them"
    )


def test_a_manifest_c2pa_cannot_parse_is_recorded_not_raised() -> None:
    png = image_bytes("PNG")
    ihdr_end = next(end for kind, _, _, end in iter_chunks(png) if kind == b"IHDR")
    garbage = png[:ihdr_end] + chunk(b"caBX", b"\x00\x00\x00\x10jumbnot-a-store") + png[ihdr_end:]
    summary = summary_of(garbage)
    assert not summary.verified
    assert (summary.note or "").startswith("c2pa could not read it (")
    assert summary.describe().startswith("content credentials present (PNG caBX chunk), not verified: c2pa could not")


def test_reading_settings_never_go_online() -> None:
    settings = offline_settings()
    assert settings["verify"] == {"remote_manifest_fetch": False, "ocsp_fetch": False}
    assert "trust_anchors" not in settings["trust"]  # no trust list is downloaded or configured
    assert "1.3.6.1.5.5.7.3.36" in settings["trust"]["trust_config"]  # documentSigning certificates read valid
    assert settings["builder"]["thumbnail"]["enabled"] is False
