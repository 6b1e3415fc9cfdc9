"""Stage plugins from a real installed distribution: a wheel built here, installed by an installer
(uv, as the test environment has it) into a site folder, and found through importlib.metadata's
``enhance.stages`` entry points exactly as a pip-installed plugin would be, including one that
declares a stage under a built-in name (refused, with a message naming the distribution)."""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from enhance.stages import registry
from enhance.stages.deband import Deband
from tests.conftest import ROOT

DIST = "enhance-invert"
VERSION = "0.1.0"
MODULE = "enhance_invert"
PLUGIN = '''"""A third-party stage pack for enhance (test fixture)."""

from __future__ import annotations

from pydantic import Field

from enhance import Stage, StageParams


class InvertParams(StageParams):
    amount: float = Field(1.0, ge=0.0, le=1.0, description="1 inverts fully")


class Invert(Stage):
    name = "invert"
    description = "invert the colours (a plugin stage)"
    Params = InvertParams

    def process(self, image, ctx):
        pixels = image.pixels
        return image.replace(pixels=pixels + self.params.amount * (1.0 - 2.0 * pixels))


class Blackout(Stage):
    name = "deband"  # a built-in name: enhance must refuse it
    description = "turns every image black"

    def process(self, image, ctx):
        return image.replace(pixels=image.pixels * 0.0)
'''
ENTRY_POINTS = f"[enhance.stages]\ninvert = {MODULE}:Invert\ndeband = {MODULE}:Blackout\n"


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def build_wheel(folder: Path) -> Path:
    """A pure-Python wheel of the plugin (the format any installer takes), written by hand so the
    test needs no build backend and no network."""
    info = f"{MODULE}-{VERSION}.dist-info"
    files = {
        f"{MODULE}/__init__.py": PLUGIN,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {DIST}\nVersion: {VERSION}\nRequires-Dist: enhance\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: enhance-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{info}/entry_points.txt": ENTRY_POINTS,
    }
    wheel = folder / f"{MODULE}-{VERSION}-py3-none-any.whl"
    record = "".join(f"{name},{_record_hash(t.encode())},{len(t.encode())}\n" for name, t in files.items())
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return wheel


def install(wheel: Path, site: Path) -> str:
    """Install ``wheel`` into ``site`` with uv (what runs this suite); where uv is not at hand, unpack
    it as an installer does for a pure wheel. Returns the installer used."""
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv:
        subprocess.run(
            [uv, "pip", "install", "--no-deps", "--no-index", "--offline", "--target", str(site),
             "--python", sys.executable, str(wheel)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return "uv"
    with zipfile.ZipFile(wheel) as archive:  # pragma: no cover - uv runs the suite
        archive.extractall(site)
    return "unpacked"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder holding the installed plugin distribution."""
    root = tmp_path_factory.mktemp("plugin")
    site = root / "site"
    site.mkdir()
    install(build_wheel(root), site)
    return site


@pytest.fixture
def installed(site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin's site folder on sys.path for one test, the entry-point scan fresh around it."""
    monkeypatch.syspath_prepend(str(site))
    registry._entry_point_scan.cache_clear()
    yield site
    registry._entry_point_scan.cache_clear()
    sys.modules.pop(MODULE, None)


def gradient(h: int = 32, w: int = 48) -> np.ndarray:
    ramp = np.linspace(0.1, 0.9, w, dtype=np.float32)
    return np.repeat(np.repeat(ramp[None, :, None], h, axis=0), 3, axis=2)


def test_the_plugin_is_an_installed_distribution(installed: Path) -> None:
    dist = importlib.metadata.distribution(DIST)
    assert dist.version == VERSION and Path(str(dist.locate_file(""))).resolve() == installed.resolve()
    found = {
        ep.name: ep.value for ep in importlib.metadata.entry_points(group="enhance.stages") if ep.dist.name == DIST
    }
    assert found == {"invert": f"{MODULE}:Invert", "deband": f"{MODULE}:Blackout"}


def test_an_installed_plugin_stage_is_found_and_runs_in_a_pipeline(installed: Path, tmp_path: Path) -> None:
    from enhance import Pipeline, get_stage, list_stages

    assert "invert" in registry.stage_names() and "invert" in list_stages()
    cls = get_stage("invert")
    assert Path(sys.modules[cls.__module__].__file__).resolve().is_relative_to(installed.resolve())
    config = tmp_path / "pipelines.yaml"
    config.write_text("pipelines:\n  flip:\n    device: cpu\n    stages:\n      - invert: {amount: 1.0}\n")
    x = gradient()
    out = Pipeline.from_yaml(config, "flip")(x)
    np.testing.assert_allclose(out, 1.0 - x, atol=1e-6)


def test_a_plugin_that_shadows_a_built_in_is_refused(installed: Path, caplog: pytest.LogCaptureFixture) -> None:
    from enhance import Pipeline, get_stage

    with caplog.at_level(logging.WARNING, logger="enhance"):
        assert get_stage("deband") is Deband
    (message,) = registry.refused_plugins()
    assert f"stage plugin '{DIST}' declares a stage named 'deband' ({MODULE}:Blackout)" in message
    assert "refused, 'deband' stays the built-in stage; the plugin must use another name" in message
    assert message in caplog.messages
    out = Pipeline([get_stage("deband")()], device="cpu")(gradient())
    assert out.min() > 0.05  # the built-in ran: not the plugin's black image


@pytest.mark.slow
def test_the_command_line_sees_the_plugin_and_refuses_the_shadowing_stage(site: Path, tmp_path: Path) -> None:
    """`enhance stages` and `enhance run` in a fresh interpreter whose path holds the installed plugin."""
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run(
        [sys.executable, "-m", "enhance", "stages"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert "invert: invert the colours (a plugin stage)" in listed.stdout
    assert "deband: remove gradient banding" in listed.stdout and "turns every image black" not in listed.stdout
    assert f"stage plugin '{DIST}' declares a stage named 'deband'" in listed.stderr

    (tmp_path / "in").mkdir()
    PILImage.fromarray(np.round(gradient() * 255).astype(np.uint8)).save(tmp_path / "in" / "a.png")
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        "pipelines:\n  both:\n    device: cpu\n    output: {format: png, dither: false}\n"
        "    stages:\n      - deband\n      - invert\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "enhance", "run", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
         "--config", str(config), "--pipeline", "both"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    result = np.asarray(PILImage.open(tmp_path / "out" / "a.png")).astype(int)
    source = np.round(gradient() * 255).astype(int)
    # the built-in deband kept the ramp (smoothing its 4-code steps a little), then invert flipped it;
    # the plugin's black image would have come out all white
    assert np.abs(result - (255 - source)).max() <= 8 and result.min() < 40
