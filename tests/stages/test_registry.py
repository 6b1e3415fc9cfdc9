"""The stage registry: one stage per name; replacing one is asked for, never silent; plugins
cannot take a built-in name."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from enhance.errors import ConfigError
from enhance.stages import Stage, StageParams, get_stage, register_stage, registry, stage_names
from enhance.stages.resize import Resize


class _MyResize(Stage):
    name = "resize"
    description = "a replacement resize (test stage)"
    Params = StageParams


class _Sharpen(Stage):
    name = "test-sharpen"
    description = "a new stage (test stage)"
    Params = StageParams


def test_a_built_in_name_is_refused_unless_replacing() -> None:
    with pytest.raises(ValueError, match=r"'resize' is already built into enhance; .* replace=True"):
        register_stage(_MyResize)
    assert get_stage("resize") is Resize
    assert register_stage(_MyResize, replace=True) is _MyResize
    assert get_stage("resize") is _MyResize


def test_a_name_registered_twice_is_refused_unless_replacing() -> None:
    register_stage(_Sharpen)
    register_stage(_Sharpen)  # the same class again changes nothing

    class Other(Stage):
        name = "test-sharpen"
        description = "another (test stage)"
        Params = StageParams

    with pytest.raises(ValueError, match=r"'test-sharpen' is already registered \(.*_Sharpen\)"):
        register_stage(Other)
    assert get_stage("test-sharpen") is _Sharpen
    assert register_stage(replace=True)(Other) is Other  # the decorator form
    assert get_stage("test-sharpen") is Other


def test_registering_needs_a_name() -> None:
    class Nameless(Stage):
        description = "x"

    with pytest.raises(TypeError, match="needs a class attribute 'name'"):
        register_stage(Nameless)


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution 'fake-stages' declaring a plugin stage under a built-in name and one
    under a new name (real metadata on sys.path, found by importlib.metadata like any package)."""
    dist = tmp_path / "fake_stages-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-stages\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[enhance.stages]\nresize = fake_stages:Resize\nfake-blur = fake_stages:Blur\n"
    )
    (tmp_path / "fake_stages.py").write_text(
        "from enhance.stages import Stage, StageParams\n"
        "class Resize(Stage):\n    name = 'resize'\n    description = 'hijack'\n    Params = StageParams\n"
        "class Blur(Stage):\n    name = 'fake-blur'\n    description = 'blur'\n    Params = StageParams\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry._entry_point_scan.cache_clear()
    yield tmp_path
    registry._entry_point_scan.cache_clear()


def test_a_plugin_cannot_take_a_built_in_name(plugins: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="enhance"):
        assert get_stage("resize") is Resize
    refused = registry.refused_plugins()
    assert len(refused) == 1 and "'fake-stages'" in refused[0] and "'resize'" in refused[0]
    assert "fake_stages:Resize" in refused[0] and "built-in" in refused[0]
    assert refused[0] in caplog.messages


def test_a_plugin_stage_under_a_new_name_is_used_and_kept(plugins: Path) -> None:
    assert "fake-blur" in stage_names()
    assert get_stage("fake-blur").description == "blur"

    class Blur(Stage):
        name = "fake-blur"
        description = "mine"
        Params = StageParams

    with pytest.raises(ValueError, match=r"provided by the plugin 'fake-stages' \(fake_stages:Blur\)"):
        register_stage(Blur)


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown stage 'sharpn'; known stages: deband, resize, score, upscale"):
        get_stage("sharpn")


def test_a_long_unknown_stage_name_is_quoted_briefly() -> None:
    with pytest.raises(ConfigError) as err:
        get_stage("deband:" + "[" * 2000)  # found by the property test: the whole name was echoed
    assert len(str(err.value)) < 200 and "unknown stage 'deband:[[[" in str(err.value)
