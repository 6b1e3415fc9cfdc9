"""Content credentials (C2PA): find them in a file, say what they claim, sign outputs anew.

* :mod:`~enhance.credentials.detect`: where a manifest store (or a remote manifest's reference)
  sits in a file's bytes, without c2pa; run on every read.
* :mod:`~enhance.credentials.summary`: what a found manifest claims and whether it validates,
  read offline with c2pa-python when installed (``enhance[c2pa]``).
* :mod:`~enhance.credentials.signing`: settings, the check before a run, and signing an encoded
  output with a new manifest whose parent ingredient is the source.

In the data layer beside the codecs: the decoder records what it found, the encoder never carries
a source's manifest, and the runners sign after encoding.
"""

from __future__ import annotations

from .._lazy import lazy_exports

_EXPORTS = {
    "Found": "detect",
    "find_credentials": "detect",
    "find_manifest_store": "detect",
    "remote_reference": "detect",
    "strip_provenance": "detect",
    "SourceCredentials": "summary",
    "c2pa_available": "summary",
    "summarize": "summary",
    "ContentCredentialsSettings": "signing",
    "ContentSigner": "signing",
    "EditAction": "signing",
    "credentials_record": "signing",
    "describe_record": "signing",
    "prepare_signer": "signing",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
