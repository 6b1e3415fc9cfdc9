"""The model zoo: complete official metadata, pins where their origin is known, no torch."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from enhance.errors import ConfigError
from enhance.models.zoo import RELEASES, ZOO, get_entry

OFFICIAL = {
    "RealESRGAN_x4plus": ("ESRGAN", 4),
    "RealESRGAN_x2plus": ("ESRGAN", 2),
    "RealESRNet_x4plus": ("ESRGAN", 4),
    "RealESRGAN_x4plus_anime_6B": ("ESRGAN", 4),
    "realesr-animevideov3": ("Compact", 4),
    "realesr-general-x4v3": ("Compact", 4),
    "realesr-general-wdn-x4v3": ("Compact", 4),
}


def test_every_official_model_is_there_with_its_architecture_and_scale() -> None:
    assert {name: (e.arch, e.scale) for name, e in ZOO.items()} == OFFICIAL


@pytest.mark.parametrize("name", list(OFFICIAL))
def test_entries_point_at_the_official_release_and_pin_only_well_formed_digests(name: str) -> None:
    entry = ZOO[name]
    assert entry.url.startswith(RELEASES + "/v") and entry.filename == f"{name}.pth"
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in entry.sha256)
    assert entry.sha256_source and entry.license == "BSD-3-Clause"


def test_the_shared_animevideov3_digest_is_accepted() -> None:
    assert "4e1e09ba96d08bd4b8455e8897c3242a3501e3766f359941ea894122e158a932" in ZOO["realesr-animevideov3"].sha256


def test_general_x4v3_interpolates_with_its_weak_denoise_twin() -> None:
    partner = ZOO["realesr-general-x4v3"].denoise_partner
    assert partner == "realesr-general-wdn-x4v3" and partner in ZOO


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'RealESRGAN_x8'.*RealESRGAN_x4plus"):
        get_entry("RealESRGAN_x8")


def test_zoo_fetch_and_the_models_command_import_no_torch() -> None:
    code = (
        "import sys, enhance.models.zoo, enhance.models.fetch, enhance.commands.models, enhance.cli;"
        "bad = [m for m in ('torch', 'spandrel', 'numpy') if m in sys.modules];"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_long_unknown_model_name_is_quoted_briefly() -> None:
    with pytest.raises(ConfigError) as err:
        get_entry("m\n" * 100_000)
    assert len(str(err.value)) < 400 and "\n" not in str(err.value) and "unknown model 'm\\nm" in str(err.value)
