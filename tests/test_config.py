"""pipelines.yaml loading: validation before any image, one-line errors, --set overrides, safety."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import Field

from enhance.config import OutputSpec, apply_overrides, load_pipeline_spec, load_pipelines, read_config
from enhance.errors import ConfigError, StageUnavailableError
from enhance.stages import Stage, StageParams, register_stage
from enhance.stages.registry import BUILTIN_STAGES
from tests.conftest import ROOT


class _GainParams(StageParams):
    factor: float = Field(1.0, gt=0, description="multiplier")
    clip: bool = True


class _Gain(Stage):
    name = "test-gain"
    description = "multiply pixels (test stage)"
    Params = _GainParams

    def process(self, image, ctx):
        pixels = image.pixels * self.params.factor
        return image.replace(pixels=pixels.clamp(0, 1) if self.params.clip else pixels)


@pytest.fixture(autouse=True)
def _gain_stage() -> None:
    """The test stage, by name, for every test here (the registries are reset after each test)."""
    register_stage(_Gain)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(text)
    return path


def test_valid_pipeline_resolves_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "pipelines:\n  p:\n    output: {format: webp, quality: 80}\n    stages:\n      - test-gain\n"
        "      - test-gain: {factor: 2}\n",
    )
    spec = load_pipeline_spec(path, "p")
    assert [s.name for s in spec.stages] == ["test-gain", "test-gain"]
    assert spec.stages[0].params.factor == 1.0 and spec.stages[1].params.factor == 2.0
    assert spec.output.format == "webp" and spec.output.quality == 80 and spec.output.dither is True


def test_unknown_stage_names_file_pipeline_position_and_known_stages(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages:\n      - test-gain\n      - sharpn: {x: 1}\n")
    with pytest.raises(ConfigError) as err:
        load_pipeline_spec(path, "p")
    message = str(err.value)
    assert "\n" not in message
    for part in (str(path), "pipeline 'p'", "stage 2 (sharpn)", "unknown stage 'sharpn'", "test-gain"):
        assert part in message


def test_unknown_parameter_lists_the_allowed_ones(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages:\n      - test-gain: {factr: 2}\n")
    with pytest.raises(ConfigError, match=r"stage 1 \(test-gain\): unknown parameter 'factr'; allowed: factor, clip"):
        load_pipeline_spec(path, "p")


def test_bad_value_names_parameter_and_constraint(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages:\n      - test-gain: {factor: -1}\n")
    with pytest.raises(ConfigError, match=r"stage 1 \(test-gain\): factor=-1 is invalid: .*greater than 0"):
        load_pipeline_spec(path, "p")


def test_bad_output_setting(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    output: {format: jpeg, bit_depth: 16}\n    stages: [test-gain]\n")
    with pytest.raises(ConfigError, match="bit_depth 16 needs format png or tiff"):
        load_pipeline_spec(path, "p")
    with pytest.raises(ValueError):
        OutputSpec(format="gif")


def test_known_but_unavailable_stage_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BUILTIN_STAGES, "future-stage", "enhance.stages.not_written_yet:Thing")
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [future-stage]\n")
    with pytest.raises(StageUnavailableError, match=r"stage 1 \(future-stage\): stage 'future-stage' is not available"):
        load_pipeline_spec(path, "p")


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: invalid YAML"):
        read_config(path)


def test_missing_pipeline_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n")
    with pytest.raises(ConfigError, match="no pipeline named 'q'; defined: p"):
        load_pipeline_spec(path, "q")
    with pytest.raises(ConfigError, match="pipelines file not found"):
        load_pipeline_spec(tmp_path / "nope.yaml", "p")


def test_yaml_loads_safely(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write(
        tmp_path,
        f"pipelines: !!python/object/apply:os.system ['touch {marker}']\n",
    )
    with pytest.raises(ConfigError, match="invalid YAML"):
        read_config(path)
    assert not marker.exists()


def test_overrides_by_name_occurrence_position_and_output(tmp_path: Path) -> None:
    raw = {"stages": ["test-gain", {"test-gain": {"factor": 2}}], "output": {"format": "png"}}
    out = apply_overrides(
        raw,
        ["test-gain[2].factor=3", "1.clip=false", "output.bit_depth=16", "device=cpu"],
        where="pipeline 'p'",
    )
    assert out["stages"] == [{"test-gain": {"clip": False}}, {"test-gain": {"factor": 3}}]
    assert out["output"] == {"format": "png", "bit_depth": 16}
    assert out["device"] == "cpu"
    assert raw["stages"][1] == {"test-gain": {"factor": 2}}, "the raw definition must not be mutated"


def test_override_errors_are_specific(tmp_path: Path) -> None:
    raw = {"stages": ["test-gain", "test-gain"]}
    with pytest.raises(ConfigError, match=r"several 'test-gain' stages; say which: test-gain\[1\] \(stage 1\)"):
        apply_overrides(raw, ["test-gain.factor=2"], where="pipeline 'p'")
    with pytest.raises(ConfigError, match="has no stage 'resize'"):
        apply_overrides(raw, ["resize.long_side=2"], where="pipeline 'p'")
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides(raw, ["factor"], where="pipeline 'p'")
    with pytest.raises(ConfigError, match=r"stages 1\.\.2, not 5"):
        apply_overrides(raw, ["5.factor=1"], where="pipeline 'p'")


def test_overridden_values_are_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n")
    assert load_pipeline_spec(path, "p", overrides=["test-gain.factor=0.5"]).stages[0].params.factor == 0.5
    with pytest.raises(ConfigError, match="factor='x' is invalid"):
        load_pipeline_spec(path, "p", overrides=["test-gain.factor=x"])


def test_shipped_pipelines_file_is_valid() -> None:
    found = load_pipelines(ROOT / "pipelines.yaml")
    assert {"restore-4k", "anime-4k", "resize-2k"} <= set(found)
    errors = {name: str(spec) for name, spec in found.items() if isinstance(spec, Exception)}
    assert not errors
    names = [s.name for s in found["restore-4k"].stages]
    assert names == ["deband", "resize", "upscale", "resize", "score"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("    stages: {test-gain: {factor: 2}}\n", "'stages' must be a list of stages (- name), got a mapping"),
        ("    stages: test-gain\n", "'stages' must be a list of stages (- name), got a string 'test-gain'"),
        ("    output: png\n    stages: [test-gain]\n", "'output' must be a mapping of settings"),
    ],
)
@pytest.mark.parametrize("overrides", [[], ["output.quality=90"], ["device=cpu"]])
def test_malformed_shapes_are_one_line_errors_with_or_without_overrides(
    tmp_path: Path, body: str, problem: str, overrides: list[str]
) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n" + body)
    with pytest.raises(ConfigError) as err:
        load_pipeline_spec(path, "p", overrides=overrides)
    message = str(err.value)
    assert message.startswith(f"{path}: pipeline 'p': ") and problem in message and "\n" not in message


def test_override_errors_name_file_and_pipeline(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain, [1, 2]]\n")
    where = re.escape(f"{path}: pipeline 'p'")
    with pytest.raises(ConfigError, match=rf"^{where}, stage 2: expected a stage name"):
        load_pipeline_spec(path, "p", overrides=["device=cpu"])
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n")
    with pytest.raises(ConfigError, match=rf"^{where}: --set 'factor': expected KEY=VALUE"):
        load_pipeline_spec(path, "p", overrides=["factor"])
    with pytest.raises(ConfigError, match=rf"^{where}: --set 'x.y=1': the pipeline has no stage 'x'"):
        load_pipeline_spec(path, "p", overrides=["x.y=1"])


def test_the_output_spec_says_what_each_output_becomes() -> None:
    same16 = OutputSpec(format="same", bit_depth=16)
    assert same16.bit_depth_for(Path("a.png")) == (16, None)
    assert same16.bit_depth_for(Path("a.jpg")) == (8, "written 8-bit: JPEG holds 8-bit samples only")
    assert same16.suffix_for(Path("a.JPG")) == ".JPG"
    assert same16.encode_options(Path("a.webp")) == {"format": "WEBP", "quality": 95, "lossless": False}
    webp = OutputSpec(format="webp", quality=80)
    assert webp.suffix_for(Path("a.png")) == ".webp" and webp.bit_depth_for(Path("a.png")) == (8, None)
    assert webp.encode_options(None) == {"format": "webp", "quality": 80, "lossless": False}
