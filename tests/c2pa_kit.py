"""Test helpers for content credentials: a throwaway certificate authority and signing certificates
(made with ``cryptography``), sources signed as a generator would sign them, and c2pa's own reading
of a file, to check what enhance wrote against the reference implementation.

The certificate recipe is C2PA's signing profile: an end-entity certificate issued by a CA, key
usage digitalSignature, an accepted extended key usage (emailProtection, documentSigning), an
authority key identifier, in date. Each property can be broken on its own for the error tests.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

EKU_EMAIL = ExtendedKeyUsageOID.EMAIL_PROTECTION
EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EKU_SERVER = ExtendedKeyUsageOID.SERVER_AUTH
EKU_ANY = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
    "GIF": "image/gif",
    "JXL": "image/jxl",
}
ACCEPTED_EKUS = "1.3.6.1.5.5.7.3.4\n1.3.6.1.5.5.7.3.36\n1.3.6.1.4.1.62558.2.1\n1.3.6.1.4.1.311.76.59.1.9\n"


def _key(alg: str) -> Any:
    if alg == "es256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "es384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg.startswith("ps"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


def _hash(key: Any) -> Any:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


#: the signing certificate's organisation: what c2pa reports as the signer
SIGNER_ORG = "enhance tests signer org"


def _name(common_name: str, organisation: str = SIGNER_ORG) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, signature: bool, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: Any, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())


@dataclass
class Pki:
    """A CA and a signing certificate, as files and bytes."""

    certificate: Path  # chain: signing certificate, then the CA
    private_key: Path
    ca: Path
    key: Any  # the private key object

    @property
    def key_bytes(self) -> bytes:
        return self.private_key.read_bytes()

    @property
    def ca_bytes(self) -> bytes:
        return self.ca.read_bytes()


def make_pki(
    folder: Path,
    alg: str = "es256",
    *,
    eku: tuple[Any, ...] = (EKU_EMAIL, EKU_DOCUMENT_SIGNING),
    key_usage: bool = True,
    digital_signature: bool = True,
    ca_flag: bool = False,
    self_signed: bool = False,
    valid_days: tuple[int, int] = (-1, 365),
    aki: bool = True,
    ca_first: bool = False,
) -> Pki:
    """Write ``chain.pem`` (signer first, then the CA), ``key.pem`` (PKCS#8) and ``ca.pem`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("enhance tests root CA", "enhance tests CA org"))
        .issuer_name(_name("enhance tests root CA", "enhance tests CA org"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_usage(signature=True, cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = _key(alg)
    subject = _name("enhance tests signer")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if self_signed else ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=valid_days[0]))
        .not_valid_after(now + dt.timedelta(days=valid_days[1]))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=ca_flag, path_length=None), critical=True)
    )
    if key_usage:
        builder = builder.add_extension(_usage(signature=digital_signature, cert_sign=False), critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if aki and not self_signed:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    cert = builder.sign(key, _hash(key)) if self_signed else builder.sign(ca_key, hashes.SHA256())
    chain = pem(ca) + pem(cert) if ca_first else pem(cert) + pem(ca)
    paths = Pki(folder / "chain.pem", folder / "key.pem", folder / "ca.pem", key)
    paths.certificate.write_bytes(chain)
    paths.private_key.write_bytes(key_pem(key))
    paths.ca.write_bytes(pem(ca))
    return paths


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), seed: int = 0, **options: Any) -> bytes:
    """A small noisy RGB image encoded by Pillow."""
    import numpy as np
    import PIL.Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PIL.Image.fromarray(pixels).save(buffer, fmt, **options)
    return buffer.getvalue()


def jxl_container(codestream: bytes = b"\xff\x0a" + bytes(30)) -> bytes:
    """A JPEG XL container (signature box, ftyp, jxlc) around ``codestream``: enough for c2pa's box
    handling (it never decodes the pixels)."""
    import struct

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    return box(b"JXL ", b"\r\n\x87\n") + box(b"ftyp", b"jxl \x00\x00\x00\x00jxl ") + box(b"jxlc", codestream)


def _context(generator: str = "FakeGen Image Model", version: str = "3.0") -> Any:
    import c2pa

    return c2pa.Context.from_dict(
        {
            "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "trust": {"trust_config": ACCEPTED_EKUS},
            "builder": {
                "thumbnail": {"enabled": False},
                "claim_generator_info": {"name": generator, "version": version},
            },
        }
    )


def _signer(pki: Pki, alg: str = "es256") -> Any:
    import c2pa

    return c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg.encode(), pki.certificate.read_bytes(), pki.key_bytes, None))


def sign_as_generator(data: bytes, fmt: str, pki: Pki, *, alg: str = "es256", remote_url: str | None = None) -> bytes:
    """``data`` signed the way an image generator labels its output: created, trained algorithmic media."""
    import c2pa

    builder = c2pa.Builder({"title": f"generated.{fmt.lower()}"}, context=_context())
    builder.set_intent(c2pa.C2paBuilderIntent.CREATE, c2pa.C2paDigitalSourceType.TRAINED_ALGORITHMIC_MEDIA)
    if remote_url is not None:
        builder.set_no_embed()
        builder.set_remote_url(remote_url)
    out = io.BytesIO()
    builder.sign(_signer(pki, alg), MIME[fmt], io.BytesIO(data), out)
    return out.getvalue()


def read_store(data: bytes, fmt: str, *, anchors: bytes | None = None) -> dict[str, Any] | None:
    """c2pa's reading of ``data`` (offline, the four C2PA EKUs accepted), or None without a manifest."""
    import c2pa

    trust: dict[str, Any] = {"trust_config": ACCEPTED_EKUS}
    if anchors:
        trust["user_anchors"] = anchors.decode()
    context = c2pa.Context.from_dict({"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}, "trust": trust})
    reader = c2pa.Reader.try_create(MIME[fmt], io.BytesIO(data), None, context)
    if reader is None:
        return None
    with reader:
        return json.loads(reader.json())


def active_manifest(store: dict[str, Any]) -> dict[str, Any]:
    return store["manifests"][store["active_manifest"]]


def manifest_actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for assertion in manifest["assertions"]
        if assertion["label"].split("__")[0] in ("c2pa.actions", "c2pa.actions.v2")
        for action in assertion["data"]["actions"]
    ]
