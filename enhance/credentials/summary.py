"""What a source's content credentials claim, and whether their signature holds, read offline.

Called only when :mod:`~enhance.credentials.detect` found a manifest, so files without one never
import c2pa (about half a second). Reading uses c2pa-python (``enhance[c2pa]``) with settings that
never touch the network: no remote-manifest fetch, no OCSP, no trust list download. Without trust
anchors (the user's own, passed in), a good signature reads ``Valid`` (the signer was not checked
against a trust list), never ``Trusted``; a manifest moved onto other pixels, or pixels changed
under it, reads ``Invalid`` with ``assertion.dataHash.mismatch``.

Without c2pa, or for a remote manifest (which would have to be fetched), the summary says the
credentials are present and not verified, and why.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import first_line
from .detect import Found

__all__ = [
    "AI_SOURCE_TYPES",
    "MIME_TYPES",
    "SourceCredentials",
    "c2pa_available",
    "offline_settings",
    "summarize",
]

#: enhance's format name -> the MIME type c2pa takes
MIME_TYPES = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "AVIF": "image/avif",
    "JXL": "image/jxl",
    "GIF": "image/gif",
}
#: the extended key usages C2PA accepts for signing certificates: emailProtection, documentSigning,
#: c2pa-kp-claimSigning, Microsoft's C2PA signing. c2pa's default list holds the first only, so
#: certificates with the others (what generators increasingly use) would read as invalid.
ACCEPTED_EKUS = {
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.4.1.62558.2.1": "c2pa claimSigning",
    "1.3.6.1.4.1.311.76.59.1.9": "Microsoft C2PA signing",
}
#: IPTC digital source types (the last part of the URI) that say a trained model or an algorithm made
#: the content, wholly or in part (``algorithmicallyEnhanced``, a capture an algorithm retouched, is not)
AI_SOURCE_TYPES = frozenset(
    {
        "trainedAlgorithmicMedia",
        "compositeWithTrainedAlgorithmicMedia",
        "algorithmicMedia",
        "compositeSynthetic",
        "trainedAlgorithmicData",
    }
)
_INSTALL = "install enhance[c2pa] to verify them"
_UNTRUSTED = "signingCredential.untrusted"
_ACTIONS_LABELS = ("c2pa.actions", "c2pa.actions.v2")


@dataclass(frozen=True)
class SourceCredentials:
    """What a file's content credentials say (the record enhance keeps per image).

    Attributes:
        where: where they sit (``"PNG caBX chunk"``, ``"XMP dcterms:provenance (a remote manifest)"``).
        verified: c2pa read the manifest and checked its signature and hashes (whatever the outcome).
        state: ``Valid`` (signature and hashes hold; signer not on a trust list), ``Trusted``
            (and the signer chains to a trust anchor given), ``Invalid``; None when not verified.
        failures: the validation codes behind ``Invalid`` (``assertion.dataHash.mismatch``...).
        claim_generator: the software that wrote the manifest, with its version.
        signer: who signed it (the certificate's organisation, else its common name).
        digital_source_type: the IPTC digital source type asserted (a URI), following the chain of
            parent ingredients when the newest manifest does not say.
        ai_generated: the source type says a trained model or an algorithm made the content;
            None when not verified.
        actions: the actions the newest manifest lists (``c2pa.created``...).
        remote_url: the URL a remote manifest is kept at (never fetched).
        note: why the credentials were not verified, when they were not.
    """

    where: str
    verified: bool = False
    state: str | None = None
    failures: tuple[str, ...] = ()
    claim_generator: str | None = None
    signer: str | None = None
    digital_source_type: str | None = None
    ai_generated: bool | None = None
    actions: tuple[str, ...] = field(default=())
    remote_url: str | None = None
    note: str | None = None

    @property
    def valid(self) -> bool | None:
        """The signature and hashes hold (``Valid`` or ``Trusted``); None when not verified."""
        return self.state in ("Valid", "Trusted") if self.verified else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, without the empty fields."""
        out: dict[str, Any] = {"present": True, "where": self.where, "verified": self.verified}
        for key in ("state", "claim_generator", "signer", "digital_source_type", "ai_generated", "remote_url", "note"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.failures:
            out["failures"] = list(self.failures)
        if self.actions:
            out["actions"] = list(self.actions)
        return out

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> SourceCredentials:
        """Back from :meth:`as_dict` (a manifest's record); fields of the wrong type are left out."""
        fields: dict[str, Any] = {"where": str(record.get("where") or "unknown place")}
        for key, kind in (
            ("verified", bool),
            ("state", str),
            ("claim_generator", str),
            ("signer", str),
            ("digital_source_type", str),
            ("ai_generated", bool),
            ("remote_url", str),
            ("note", str),
        ):
            if isinstance(record.get(key), kind):
                fields[key] = record[key]
        for key in ("failures", "actions"):
            if isinstance(record.get(key), list):
                fields[key] = tuple(str(v) for v in record[key])
        return cls(**fields)

    def describe(self) -> str:
        """One line for people: what the credentials claim and whether they hold."""
        if not self.verified:
            return f"content credentials present ({self.where}), not verified: {self.note or _INSTALL}"
        parts = [f"content credentials ({self.where})"]
        if self.claim_generator:
            parts.append(f"made by {self.claim_generator}")
        if self.signer:
            parts.append(f"signed by {self.signer}")
        if self.ai_generated:
            parts.append(f"AI-generated ({self.digital_source_type.rsplit('/', 1)[-1]})")  # type: ignore[union-attr]
        elif self.digital_source_type:
            parts.append(f"source type {self.digital_source_type.rsplit('/', 1)[-1]}")
        if self.state == "Trusted":
            parts.append("signature valid and trusted")
        elif self.state == "Valid":
            parts.append("signature valid (signer not checked against a trust list)")
        else:
            parts.append(f"INVALID ({', '.join(self.failures) or self.state})")
        return ", ".join(parts)


def c2pa_available() -> bool:
    """Whether c2pa-python can be imported here (``enhance[c2pa]``; Linux and macOS wheels only)."""
    try:
        import c2pa  # noqa: F401
    except (ImportError, OSError):  # OSError: the native library does not load (an old glibc)
        return False
    return True


def offline_settings(*, trust_anchors: bytes | None = None, thumbnails: bool = False) -> dict[str, Any]:
    """c2pa settings that never touch the network and accept every EKU C2PA allows.

    Args:
        trust_anchors: PEM certificates whose signers read as ``Trusted``.
        thumbnails: let c2pa add a thumbnail to manifests it writes (slow on large images, and big).
    """
    trust: dict[str, Any] = {"trust_config": "".join(f"{oid}\n" for oid in ACCEPTED_EKUS)}
    if trust_anchors:
        trust["user_anchors"] = trust_anchors.decode("ascii")
    return {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "trust": trust,
        "builder": {"thumbnail": {"enabled": thumbnails}},
    }


def summarize(data: bytes, found: Found, *, trust_anchors: bytes | None = None) -> SourceCredentials:
    """Read the content credentials :func:`~enhance.credentials.detect.find_credentials` found in
    ``data``, offline. Never raises for what the file holds: a manifest c2pa cannot read is
    recorded as not verified, with c2pa's reason.
    """
    if not found.embedded:
        return SourceCredentials(
            where=found.where,
            remote_url=found.remote_url,
            note="the manifest is kept remotely and enhance does not fetch it (it works offline)",
        )
    if not c2pa_available():
        return SourceCredentials(where=found.where, note=_INSTALL)
    store, error = _read_store(data, MIME_TYPES.get(found.container or ""), trust_anchors)
    if store is None:
        return SourceCredentials(where=found.where, note=error or "c2pa found no manifest")
    return _from_store(store, found.where)


def _read_store(data: bytes, mime: str | None, trust_anchors: bytes | None) -> tuple[dict[str, Any] | None, str | None]:
    import c2pa

    try:
        context = c2pa.Context.from_dict(offline_settings(trust_anchors=trust_anchors))
        stream = io.BytesIO(data)
        # keywords: try_create's positional form misroutes a None format
        reader = (
            c2pa.Reader.try_create(mime, stream, None, context)
            if mime
            else c2pa.Reader.try_create(stream, context=context)
        )
        if reader is None:
            return None, None
        with reader:
            return json.loads(reader.json()), None
    except c2pa.C2paError as exc:
        return None, f"c2pa could not read it ({first_line(exc, limit=160)})"


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        action
        for assertion in manifest.get("assertions") or []
        if str(assertion.get("label", "")).split("__")[0] in _ACTIONS_LABELS
        for action in (assertion.get("data") or {}).get("actions") or []
        if isinstance(action, dict)
    ]


def _source_type(store: dict[str, Any], label: str | None, seen: frozenset[str] = frozenset()) -> str | None:
    """The digital source type a manifest's actions assert; else its parent ingredient's (the chain)."""
    if label is None or label in seen:
        return None
    manifest = (store.get("manifests") or {}).get(label) or {}
    for action in _actions(manifest):
        if action.get("digitalSourceType"):
            return str(action["digitalSourceType"])
    for ingredient in manifest.get("ingredients") or []:
        if ingredient.get("relationship") == "parentOf":
            return _source_type(store, ingredient.get("active_manifest"), seen | {label})
    return None


def _generator(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("claim_generator_info") or []
    if info and isinstance(info[0], dict) and info[0].get("name"):
        version = info[0].get("version")
        return f"{info[0]['name']} {version}" if version else str(info[0]["name"])
    return manifest.get("claim_generator")  # v1 claims: one string


def _from_store(store: dict[str, Any], where: str) -> SourceCredentials:
    label = store.get("active_manifest")
    manifest = (store.get("manifests") or {}).get(label) or {}
    codes = [str(s.get("code")) for s in store.get("validation_status") or [] if isinstance(s, dict)]
    source_type = _source_type(store, label)
    signature = manifest.get("signature_info") or {}
    return SourceCredentials(
        where=where,
        verified=True,
        state=store.get("validation_state"),
        failures=tuple(dict.fromkeys(c for c in codes if c != _UNTRUSTED)),
        claim_generator=_generator(manifest),
        signer=signature.get("issuer") or signature.get("common_name"),
        digital_source_type=source_type,
        ai_generated=bool(source_type and source_type.rsplit("/", 1)[-1] in AI_SOURCE_TYPES),
        actions=tuple(str(a.get("action")) for a in _actions(manifest)),
    )
