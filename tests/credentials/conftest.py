"""Fixtures for the content-credential tests: one certificate authority and signer per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.c2pa_kit import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """An ES256 signing certificate issued by a throwaway CA."""
    pytest.importorskip("cryptography")
    return make_pki(Path(tmp_path_factory.mktemp("pki")), "es256")
