"""Sign enhance's outputs with a new C2PA manifest: the source as parent ingredient, the edits as actions.

A source's manifest is bound to its bytes by a hash, so it cannot travel with new pixels: carried
over it would validate as tampered. The C2PA way to keep provenance across an edit is a new,
signed manifest whose parent ingredient is the source (its own manifest is kept inside, validated,
so the chain back to the generator stays readable) and whose actions say what was done:
``c2pa.opened`` for the source, then one action per edit (``c2pa.filtered``, ``c2pa.resized``,
``c2pa.edited``...), each naming enhance and its version as the software agent and keeping the
source's digital source type (an AI-generated image stays labelled AI-generated).

Settings (``output.content_credentials`` in a pipeline): a certificate chain, its private key and
optionally the signature algorithm and a time-stamp authority. :func:`prepare_signer` checks them
once, before any image is touched: the files, the key against the certificate, the algorithm
against the key, the certificate against C2PA's profile (in date, issued by a CA, not a CA itself,
digitalSignature, an extended key usage C2PA accepts), then one real signature of a 1x1 PNG made in
memory, which exercises whatever c2pa checks beyond those (and the time-stamp authority). Any
failure is a :class:`~enhance.errors.ConfigError` of one line (exit 2).

The private key is read into memory once and never written anywhere: not into outputs, messages,
the manifest, reports or logs, not into a ``repr``, and not into a pickle (a signer sent to a
worker process carries the settings, and the worker reads the key from its path again).

c2pa-python (``enhance[c2pa]``) does the signing; a ``c2pa.Signer`` does not survive ``fork()``, so
each process builds its own, once, and its threads share it (c2pa guards concurrent use).
Thumbnails are off: on a 4K image one costs about a second and hundreds of kilobytes.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import struct
import threading
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .._version import __version__
from ..errors import ConfigError, InputError, first_line
from .summary import ACCEPTED_EKUS, MIME_TYPES, SourceCredentials, c2pa_available, offline_settings

if TYPE_CHECKING:
    import c2pa

__all__ = [
    "ALGORITHMS",
    "ContentCredentialsSettings",
    "ContentSigner",
    "EditAction",
    "NOT_CARRIED",
    "credentials_record",
    "describe_record",
    "prepare_signer",
]

#: the signature algorithms c2pa signs with
ALGORITHMS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
Algorithm = Literal["es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519"]
_FIELD = "output.content_credentials"
_ANY_EKU = "2.5.29.37.0"
_CURVE_ALGORITHM = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
#: why an output does not carry its source's manifest, for the record
NOT_CARRIED = (
    "not carried: the source's manifest is bound to the source's pixels, which changed, so on this output it "
    "would read as tampered; set output.content_credentials to sign a new one that names the source as its parent"
)


class ContentCredentialsSettings(BaseModel):
    """``output.content_credentials``: sign each output with a new C2PA manifest (needs ``enhance[c2pa]``).

    Paths are relative to the working directory. Only the paths are recorded (in the run's
    manifest); the key's content never is.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    certificate: Path = Field(description="PEM certificate chain: the signing certificate first, then its CA(s)")
    private_key: Path = Field(description="the certificate's private key, PEM, unencrypted")
    algorithm: Algorithm | None = Field(None, description="signature algorithm; by default the one the key implies")
    timestamp_url: str | None = Field(
        None, description="RFC 3161 time-stamp authority, asked once per image (keeps signatures valid past expiry)"
    )


@dataclass(frozen=True)
class EditAction:
    """One thing done to the pixels, as a C2PA action.

    Attributes:
        action: a C2PA action name (``c2pa.filtered``, ``c2pa.resized``, ``c2pa.edited``...).
        description: what was done, for people (``"deband"``, ``"upscale x4 with realesr-general-x4v3"``).
        parameters: JSON-ready details (the stage's parameters).
    """

    action: str
    description: str | None = None
    parameters: Mapping[str, Any] | None = None


class ContentSigner:
    """Signs encoded outputs; made by :func:`prepare_signer`, one per run, shared by threads."""

    def __init__(
        self, settings: ContentCredentialsSettings, chain: bytes, key: bytes, algorithm: str, subject: str = ""
    ) -> None:
        self.settings = settings
        self.algorithm = algorithm
        self.subject = subject  # the signing certificate's organisation or common name, for the record
        self._chain = chain
        self._key = key
        self._lock = threading.Lock()
        self._native: tuple[int, c2pa.Signer, c2pa.Context] | None = None

    def __repr__(self) -> str:
        return f"ContentSigner(certificate={str(self.settings.certificate)!r}, algorithm={self.algorithm!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # never the key: a copy in another process reads it from its path again
        return _reload, (self.settings, self.algorithm)

    def _signer(self) -> tuple[c2pa.Signer, c2pa.Context]:
        """This process's c2pa signer and signing context, built on first use (a fork gets its own)."""
        import c2pa

        with self._lock:
            if self._native is None or self._native[0] != os.getpid():
                info = c2pa.C2paSignerInfo(
                    self.algorithm.encode("ascii"), self._chain, self._key, self.settings.timestamp_url
                )
                signer = c2pa.Signer.from_info(info)
                settings = offline_settings()
                settings["builder"]["claim_generator_info"] = _agent()
                self._native = (os.getpid(), signer, c2pa.Context.from_dict(settings))
            return self._native[1], self._native[2]

    def sign(
        self,
        data: bytes,
        format: str,
        *,
        source: bytes,
        source_format: str,
        title: str,
        source_title: str,
        actions: Sequence[EditAction] = (),
        digital_source_type: str | None = None,
    ) -> bytes:
        """``data`` (an encoded output) with a new manifest embedded, as bytes.

        Args:
            format: the output's format (``PNG``, ``JPEG``, ``WEBP``, ``TIFF``, ``AVIF``, ``JXL``).
            source: the source file's bytes, added as the parent ingredient (with its manifest, if any).
            source_format: the source's format.
            title: the output's file name; ``source_title``: the source's.
            actions: the edits, in order, after the ``c2pa.opened`` of the source.
            digital_source_type: the source's IPTC digital source type (a URI), kept on every action.

        Raises:
            InputError: c2pa refused this image (one line; the batch goes on with the next).
        """
        import c2pa

        manifest = build_manifest(title, actions, digital_source_type)
        parent = {"title": source_title, "relationship": "parentOf", "label": "parent"}
        try:
            signer, context = self._signer()
            builder = c2pa.Builder(manifest, context=context)
            try:
                builder.add_ingredient(parent, _mime(source_format), io.BytesIO(source))
            except c2pa.C2paError:
                # a source c2pa cannot parse as an asset (a bare JPEG XL codestream, which can hold
                # no manifest anyway): the parent is described, not hashed
                builder = c2pa.Builder(
                    {**manifest, "ingredients": [{**parent, "format": _mime(source_format)}]}, context=context
                )
            out = io.BytesIO()
            builder.sign(signer, _mime(format), io.BytesIO(data), out)
        except c2pa.C2paError as exc:
            raise InputError(
                f"{title}: signing the output's content credentials failed ({first_line(exc, limit=160)}); "
                "check output.content_credentials, or remove it to write unsigned outputs"
            ) from None
        return out.getvalue()


def _mime(fmt: str) -> str:
    try:
        return MIME_TYPES[fmt.upper()]
    except KeyError:
        raise ValueError(f"c2pa cannot sign {fmt} files; sign one of {', '.join(MIME_TYPES)}") from None


def _agent() -> dict[str, str]:
    return {"name": "enhance", "version": __version__}


def build_manifest(title: str, actions: Sequence[EditAction], digital_source_type: str | None) -> dict[str, Any]:
    """The manifest definition: ``c2pa.opened`` for the parent ingredient, then ``actions``."""
    agent = _agent()
    entries: list[dict[str, Any]] = [
        {"action": "c2pa.opened", "softwareAgent": agent, "parameters": {"ingredientIds": ["parent"]}}
    ]
    for edit in actions:
        entry: dict[str, Any] = {"action": edit.action, "softwareAgent": agent}
        if edit.description:
            entry["description"] = edit.description
        if edit.parameters:
            entry["parameters"] = json.loads(json.dumps(dict(edit.parameters), default=str))
        entries.append(entry)
    if digital_source_type:
        for entry in entries:
            entry["digitalSourceType"] = digital_source_type
    return {
        "claim_generator_info": [agent],
        "title": title,
        "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": entries}}],
    }


def credentials_record(
    source: SourceCredentials | None, signer: ContentSigner | None, actions: Sequence[EditAction]
) -> dict[str, Any] | None:
    """The record's ``content_credentials``: what the source's said, and what the output carries
    (a new signature, or nothing, and why). None when the source had none and nothing is signed."""
    if source is None and signer is None:
        return None
    if signer is None:
        output: dict[str, Any] = {"signed": False, "note": NOT_CARRIED}
    else:
        output = {
            "signed": True,
            "signer": signer.subject,
            "algorithm": signer.algorithm,
            "actions": ["c2pa.opened", *(a.action for a in actions)],
            "note": "signed anew: a new manifest names the source as its parent ingredient and lists the edits"
            + (", keeping the source's digital source type" if source and source.digital_source_type else ""),
        }
    return {"source": source.as_dict() if source else None, "output": output}


def describe_record(record: Any) -> dict[str, str | None]:
    """A record's ``content_credentials`` as two short texts for reports: what the source's
    claimed (None without), and what the output carries."""
    if not isinstance(record, Mapping):
        return {"source": None, "output": None}
    source = record.get("source")
    output = record.get("output") if isinstance(record.get("output"), Mapping) else {}
    if output.get("signed"):
        carried = f"signed anew by {output.get('signer') or 'the configured certificate'} ({output.get('algorithm')})"
    else:
        carried = "not carried: the pixels changed (the old manifest would read as tampered)"
    return {
        "source": SourceCredentials.from_dict(source).describe() if isinstance(source, Mapping) else None,
        "output": carried,
    }


# -- the check before any image ----------------------------------------------------------------------


def prepare_signer(settings: ContentCredentialsSettings) -> ContentSigner:
    """Check ``settings`` and return a signer ready for every image of a run.

    Raises:
        ConfigError: c2pa is not installed, a file cannot be read, or the certificate, key,
            algorithm or time-stamp authority will not sign; one line naming the file and the fix.
    """
    signer = _load(settings)
    _trial_sign(signer)
    return signer


def _reload(settings: ContentCredentialsSettings, algorithm: str) -> ContentSigner:
    signer = _load(settings)
    if signer.algorithm != algorithm:  # the files changed under the run
        raise ConfigError(f"{settings.certificate}: the signing key changed during the run; run again")
    return signer


def _load(settings: ContentCredentialsSettings) -> ContentSigner:
    if not c2pa_available():
        raise ConfigError(
            f"{_FIELD}: signing needs c2pa-python, which is not installed (or does not load) here; "
            "pip install 'enhance[c2pa]', or remove output.content_credentials"
        )
    from cryptography import x509

    cert_path, key_path = settings.certificate, settings.private_key
    chain = _read(cert_path, "certificate")
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise ConfigError(
            f"{cert_path}: not a PEM certificate chain (expected '-----BEGIN CERTIFICATE-----' blocks, "
            f"the signing certificate first); check {_FIELD}.certificate"
        ) from None
    key = _private_key(key_path)
    leaf = _leaf(certificates, key, cert_path, key_path)
    algorithm = _algorithm(settings.algorithm, key.public_key(), cert_path)
    _check_profile(leaf, cert_path)
    return ContentSigner(settings, chain, _pkcs8(key), algorithm, _subject(leaf))


def _subject(certificate: Any) -> str:
    """Who signs, as c2pa reports it: the certificate's organisation, else its common name."""
    from cryptography.x509.oid import NameOID

    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        names = certificate.subject.get_attributes_for_oid(oid)
        if names:
            return str(names[0].value)
    return certificate.subject.rfc4514_string()


def _read(path: Path, what: str) -> bytes:
    field = "certificate" if what == "certificate" else "private_key"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} file not found; check {_FIELD}.{field}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a {what} file; check {_FIELD}.{field}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror or exc}); check {_FIELD}.{field}") from None
    if not data.strip():
        raise ConfigError(f"{path}: the {what} file is empty; check {_FIELD}.{field}")
    return data


def _private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization

    data = _read(path, "private key")
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # needs a password
        raise ConfigError(
            f"{path}: the private key is encrypted; enhance needs it unencrypted "
            "(openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pem), kept where only you can read it"
        ) from None
    except Exception:  # never the library's text: it might quote the key's bytes
        raise ConfigError(f"{path}: not a PEM private key (expected '-----BEGIN PRIVATE KEY-----')") from None


def _pkcs8(key: Any) -> bytes:
    """The key as unencrypted PKCS#8 PEM, the only form c2pa reads (SEC1 and PKCS#1 keys are re-encoded)."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _spki(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _leaf(certificates: list[Any], key: Any, cert_path: Path, key_path: Path) -> Any:
    """The certificate the key signs for, which must come first in the chain."""
    public = _spki(key.public_key())
    matches = [i for i, cert in enumerate(certificates) if _spki(cert.public_key()) == public]
    if not matches:
        raise ConfigError(
            f"{key_path}: this private key does not belong to the certificate in {cert_path}; "
            "use the key the certificate was issued for"
        )
    if matches[0] != 0:
        raise ConfigError(
            f"{cert_path}: the signing certificate is number {matches[0] + 1} in the chain; "
            "put it first, then its CA(s)"
        )
    return certificates[0]


def _key_algorithm(public_key: Any) -> str | None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _CURVE_ALGORITHM.get(public_key.curve.name)
    if isinstance(public_key, rsa.RSAPublicKey):
        return "ps256"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "ed25519"
    return None


def _key_kind(public_key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    return type(public_key).__name__.removeprefix("_").removesuffix("PublicKey")


def _algorithm(asked: str | None, public_key: Any, cert_path: Path) -> str:
    implied = _key_algorithm(public_key)
    if implied is None:
        raise ConfigError(
            f"{cert_path}: C2PA cannot sign with a {_key_kind(public_key)} key; "
            "use an EC P-256/P-384/P-521, RSA (2048 bits or more) or Ed25519 key"
        )
    if asked is None:
        return implied
    family_ok = asked == implied or (asked.startswith("ps") and implied == "ps256")
    if not family_ok:
        raise ConfigError(
            f"{_FIELD}.algorithm: {asked} does not match the {_key_kind(public_key)} key of {cert_path}; "
            f"set algorithm: {implied} (or leave it out)"
        )
    return asked


def _check_profile(leaf: Any, path: Path) -> None:
    """The C2PA signing-certificate profile, checked with plain messages (c2pa's say "invalid")."""
    from cryptography import x509

    now = dt.datetime.now(dt.timezone.utc)
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not start <= now <= end:
        raise ConfigError(
            f"{path}: the signing certificate is valid from {start:%Y-%m-%d} to {end:%Y-%m-%d}, not now; renew it"
        )
    if leaf.issuer == leaf.subject:
        raise ConfigError(
            f"{path}: the signing certificate is self-signed; C2PA needs one issued by a certificate "
            "authority (put it first in the file, then its CA)"
        )
    extensions = leaf.extensions

    def extension(kind: type) -> Any:
        try:
            return extensions.get_extension_for_class(kind).value
        except x509.ExtensionNotFound:
            return None

    constraints = extension(x509.BasicConstraints)
    if constraints is not None and constraints.ca:
        raise ConfigError(f"{path}: the signing certificate is a CA certificate; sign with an end-entity one it issued")
    usage = extension(x509.KeyUsage)
    if usage is None or not usage.digital_signature:
        raise ConfigError(f"{path}: the signing certificate's key usage lacks digitalSignature, which C2PA needs")
    ekus = {oid.dotted_string for oid in (extension(x509.ExtendedKeyUsage) or [])}
    if _ANY_EKU in ekus:
        raise ConfigError(
            f"{path}: the signing certificate allows anyExtendedKeyUsage, which C2PA forbids; "
            "issue it with emailProtection or documentSigning"
        )
    if not ekus & ACCEPTED_EKUS.keys():
        accepted = ", ".join(f"{name} ({oid})" for oid, name in ACCEPTED_EKUS.items())
        raise ConfigError(
            f"{path}: the signing certificate's extended key usage ({', '.join(sorted(ekus)) or 'none'}) "
            f"has none that C2PA accepts: {accepted}"
        )
    if extension(x509.AuthorityKeyIdentifier) is None:
        raise ConfigError(
            f"{path}: the signing certificate has no authority key identifier, which c2pa needs; reissue it"
        )


def _tiny_png(value: int) -> bytes:
    """A 1x1 gray PNG, built in memory: what the trial signature signs. (By hand, in a few bytes:
    the codecs import this package, so it cannot import theirs.)"""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixel = zlib.compress(bytes([0, value]))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel) + chunk(b"IEND", b"")


def _trial_sign(signer: ContentSigner) -> None:
    """One real signature, as every image will get (parent ingredient, actions): whatever c2pa
    refuses beyond the checks above, or a time-stamp authority that does not answer, shows now."""
    tsa = signer.settings.timestamp_url
    try:
        signer.sign(
            _tiny_png(255),
            "PNG",
            source=_tiny_png(0),
            source_format="PNG",
            title="check.png",
            source_title="source.png",
            actions=[EditAction("c2pa.edited", "preflight")],
        )
    except InputError as exc:
        reason = str(exc).split("(", 1)[-1].rsplit(")", 1)[0]
        if tsa and ("http" in reason or "timestamp" in reason.lower() or "time stamp" in reason.lower()):
            raise ConfigError(
                f"{_FIELD}.timestamp_url: {tsa} did not answer a test signature ({reason}); fix the URL or remove it"
            ) from None
        raise ConfigError(
            f"{signer.settings.certificate}: c2pa refuses to sign with this certificate and key ({reason})"
        ) from None
