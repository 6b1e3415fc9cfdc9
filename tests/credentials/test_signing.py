"""Signing outputs anew: the manifest c2pa reads back (valid, the source as parent ingredient, the
actions in order, enhance as the software agent, the AI label kept), the check that refuses bad
settings in one line before any image, and the private key kept out of everything written."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from enhance import __version__
from enhance.credentials.detect import find_credentials
from enhance.credentials.signing import ContentCredentialsSettings, ContentSigner, EditAction, prepare_signer
from enhance.credentials.summary import summarize
from enhance.errors import ConfigError
from tests.c2pa_kit import (
    EKU_ANY,
    EKU_SERVER,
    TRAINED,
    Pki,
    active_manifest,
    image_bytes,
    key_pem,
    make_pki,
    manifest_actions,
    read_store,
    sign_as_generator,
)

pytest.importorskip("c2pa")

EDITS = [
    EditAction("c2pa.filtered", "deband", {"threshold": 4}),
    EditAction("c2pa.resized", "resize to 2048 px on the long side"),
    EditAction("c2pa.edited", "upscale x4 with realesr-animevideov3"),
]


def settings_for(pki: Pki, **changes: object) -> ContentCredentialsSettings:
    fields = {"certificate": pki.certificate, "private_key": pki.private_key, **changes}
    return ContentCredentialsSettings(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def signer(pki: Pki) -> ContentSigner:
    return prepare_signer(settings_for(pki))


def resign(signer: ContentSigner, source: bytes, fmt: str, out_fmt: str, seed: int = 9) -> bytes:
    found = find_credentials(source)
    dst = summarize(source, found).digital_source_type if found else None
    return signer.sign(
        image_bytes(out_fmt, size=(96, 72), seed=seed),
        out_fmt,
        source=source,
        source_format=fmt,
        title=f"out.{out_fmt.lower()}",
        source_title=f"in.{fmt.lower()}",
        actions=EDITS,
        digital_source_type=dst,
    )


@pytest.mark.parametrize(("fmt", "out_fmt"), [("PNG", "PNG"), ("JPEG", "JPEG"), ("PNG", "JPEG"), ("JPEG", "WEBP")])
def test_the_new_manifest_validates_and_names_the_parent_and_the_actions(
    pki: Pki, signer: ContentSigner, fmt: str, out_fmt: str
) -> None:
    source = sign_as_generator(image_bytes(fmt), fmt, pki)
    store = read_store(resign(signer, source, fmt, out_fmt), out_fmt)
    assert store is not None
    assert store["validation_state"] == "Valid"
    assert [s["code"] for s in store.get("validation_status", [])] == ["signingCredential.untrusted"]
    manifest = active_manifest(store)
    assert manifest["claim_generator_info"][0]["name"] == "enhance"
    assert manifest["claim_generator_info"][0]["version"] == __version__
    (parent,) = manifest["ingredients"]
    assert parent["relationship"] == "parentOf" and parent["title"] == f"in.{fmt.lower()}"
    # the generator's manifest travels inside, validated: the chain back to the AI label
    assert parent["active_manifest"] in store["manifests"] and len(store["manifests"]) == 2
    failures = parent["validation_results"]["activeManifest"]["failure"]
    assert [f["code"] for f in failures] == ["signingCredential.untrusted"]  # no trust list offline; nothing else
    actions = manifest_actions(manifest)
    assert [a["action"] for a in actions] == ["c2pa.opened", "c2pa.filtered", "c2pa.resized", "c2pa.edited"]
    assert [a.get("description") for a in actions[1:]] == [e.description for e in EDITS]
    assert actions[1]["parameters"]["threshold"] == 4
    assert all(a["softwareAgent"] == {"name": "enhance", "version": __version__} for a in actions)
    assert all(a["digitalSourceType"] == TRAINED for a in actions)  # the AI label is kept
    (link,) = actions[0]["parameters"]["ingredients"]  # opened points at the parent, by a hashed link
    assert link["url"].endswith(parent["label"])


def test_the_users_trust_anchor_makes_the_output_trusted(pki: Pki, signer: ContentSigner) -> None:
    source = sign_as_generator(image_bytes("PNG"), "PNG", pki)
    store = read_store(resign(signer, source, "PNG", "PNG"), "PNG", anchors=pki.ca_bytes)
    assert store is not None and store["validation_state"] == "Trusted"


def test_a_source_without_credentials_is_still_the_parent(signer: ContentSigner) -> None:
    signed = resign(signer, image_bytes("PNG", seed=3), "PNG", "PNG")
    store = read_store(signed, "PNG")
    assert store is not None and store["validation_state"] == "Valid"
    manifest = active_manifest(store)
    assert manifest["ingredients"][0]["relationship"] == "parentOf"
    assert "digitalSourceType" not in manifest_actions(manifest)[1]  # nothing claimed, nothing invented
    summary = summarize(signed, find_credentials(signed))  # type: ignore[arg-type]
    assert summary.claim_generator == f"enhance {__version__}" and summary.ai_generated is False


@pytest.mark.parametrize("alg", ["ed25519", "ps256"])
def test_ed25519_and_rsa_pss_sign_too(tmp_path: Path, alg: str) -> None:
    pki = make_pki(tmp_path, alg)
    signer = prepare_signer(settings_for(pki))
    assert signer.algorithm == alg  # implied by the key
    store = read_store(resign(signer, image_bytes("PNG"), "PNG", "PNG"), "PNG")
    assert store is not None and store["validation_state"] == "Valid"
    assert active_manifest(store)["signature_info"]["alg"].lower() == alg


def test_a_sec1_key_is_accepted(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    pki.private_key.write_bytes(key_pem(pki.key, serialization.PrivateFormat.TraditionalOpenSSL))
    assert b"BEGIN EC PRIVATE KEY" in pki.private_key.read_bytes()
    assert prepare_signer(settings_for(pki)).algorithm == "es256"


def test_signing_from_threads_shares_one_signer(pki: Pki, signer: ContentSigner) -> None:
    source = sign_as_generator(image_bytes("PNG"), "PNG", pki)
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda seed: resign(signer, source, "PNG", "PNG", seed=seed), range(8)))
    assert len({o for o in outputs}) == 8
    assert all(read_store(o, "PNG")["validation_state"] == "Valid" for o in outputs)  # type: ignore[index]


# -- the check before any image -------------------------------------------------------------------------


def other_key(path: Path) -> Path:
    path.write_bytes(key_pem(ec.generate_private_key(ec.SECP256R1())))
    return path


CASES = {
    "missing certificate": (lambda p, t: {"certificate": t / "nope.pem"}, "certificate file not found"),
    "certificate is not PEM": (
        lambda p, t: {"certificate": _write(t / "c.pem", b"hello")},
        "not a PEM certificate chain",
    ),
    "key is not PEM": (lambda p, t: {"private_key": _write(t / "k.pem", b"hello")}, "not a PEM private key"),
    "encrypted key": (
        lambda p, t: {
            "private_key": _write(
                t / "k.pem",
                p.key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.BestAvailableEncryption(b"secret"),
                ),
            )
        },
        "the private key is encrypted",
    ),
    "another certificate's key": (lambda p, t: {"private_key": other_key(t / "k.pem")}, "does not belong to"),
    "algorithm not the key's": (lambda p, t: {"algorithm": "ps256"}, "set algorithm: es256"),
    "expired": (lambda p, t: {"pki": {"valid_days": (-30, -1)}}, "not now; renew it"),
    "self-signed": (lambda p, t: {"pki": {"self_signed": True}}, "is self-signed"),
    "a CA certificate": (lambda p, t: {"pki": {"ca_flag": True}}, "is a CA certificate"),
    "no digitalSignature": (lambda p, t: {"pki": {"digital_signature": False}}, "lacks digitalSignature"),
    "no key usage": (lambda p, t: {"pki": {"key_usage": False}}, "lacks digitalSignature"),
    "anyExtendedKeyUsage": (lambda p, t: {"pki": {"eku": (EKU_ANY,)}}, "anyExtendedKeyUsage"),
    "serverAuth only": (lambda p, t: {"pki": {"eku": (EKU_SERVER,)}}, "has none that C2PA accepts"),
    "no extended key usage": (lambda p, t: {"pki": {"eku": ()}}, "(none) has none that C2PA accepts"),
    "no authority key id": (lambda p, t: {"pki": {"aki": False}}, "no authority key identifier"),
    "CA first in the chain": (lambda p, t: {"pki": {"ca_first": True}}, "put it first"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", CASES)
def test_bad_settings_are_one_config_error_line(pki: Pki, tmp_path: Path, case: str) -> None:
    make, expected = CASES[case]
    changes = make(pki, tmp_path)
    base = make_pki(tmp_path / "pki", **changes.pop("pki")) if "pki" in changes else pki
    settings = settings_for(base, **changes)
    with pytest.raises(ConfigError) as error:
        prepare_signer(settings)
    message = str(error.value)
    assert expected in message and "\n" not in message
    key = base.key_bytes
    assert key not in message.encode() and _key_body(key)[:40] not in message


def test_a_time_stamp_authority_that_does_not_answer_is_a_config_error(pki: Pki) -> None:
    with pytest.raises(ConfigError, match=r"output.content_credentials.timestamp_url: http://127.0.0.1:9/ did not"):
        prepare_signer(settings_for(pki, timestamp_url="http://127.0.0.1:9/"))


def test_without_c2pa_signing_settings_are_a_config_error(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)
    with pytest.raises(ConfigError, match=r"pip install 'enhance\[c2pa\]'"):
        prepare_signer(settings_for(pki))


def test_the_settings_model_refuses_unknown_fields_and_algorithms(pki: Pki) -> None:
    with pytest.raises(ValidationError):
        ContentCredentialsSettings(certificate=pki.certificate, private_key=pki.private_key, password="x")
    with pytest.raises(ValidationError):
        settings_for(pki, algorithm="rs256")


# -- the key stays where it is ---------------------------------------------------------------------------


def _key_body(pem: bytes) -> str:
    """The base64 body of a PEM block, one line (what a leak would most likely show)."""
    return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))


def test_the_key_never_appears_in_outputs_repr_or_pickles(pki: Pki, signer: ContentSigner) -> None:
    key_file = pki.key_bytes
    der = pki.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    scalar = pki.key.private_numbers().private_value.to_bytes(32, "big")  # the secret itself
    signed = resign(signer, sign_as_generator(image_bytes("PNG"), "PNG", pki), "PNG", "PNG")
    body = _key_body(key_file)
    for blob in (signed, repr(signer).encode(), pickle.dumps(signer), pickle.dumps(signer.settings)):
        assert key_file not in blob and der not in blob and body[:40].encode() not in blob
        assert scalar not in blob
    copy = pickle.loads(pickle.dumps(signer))  # a worker's copy reads the key from its path again
    assert read_store(resign(copy, image_bytes("PNG"), "PNG", "PNG"), "PNG")["validation_state"] == "Valid"  # type: ignore[index]


def test_a_forked_worker_builds_its_own_signer(pki: Pki, tmp_path: Path) -> None:
    """c2pa closes an inherited signer in a forked child; the child's first sign builds a new one."""
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from enhance.credentials.signing import ContentCredentialsSettings, prepare_signer
        from tests.credentials.test_signing import resign
        from tests.c2pa_kit import image_bytes, read_store
        signer = prepare_signer(ContentCredentialsSettings(
            certificate={str(pki.certificate)!r}, private_key={str(pki.private_key)!r}))
        resign(signer, image_bytes("PNG"), "PNG", "PNG")  # the parent's signer is in use
        pid = os.fork()
        if pid == 0:
            out = resign(signer, image_bytes("PNG"), "PNG", "PNG")
            os._exit(0 if read_store(out, "PNG")["validation_state"] == "Valid" else 3)
        _, status = os.waitpid(pid, 0)
        sys.exit(os.waitstatus_to_exitcode(status))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
