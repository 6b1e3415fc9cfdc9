"""pipelines.yaml loading: validation before any image, one-line errors, --set overrides, safety."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import Field

from enhance import config
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


# -- bounds: size, aliases, depth, and what messages quote -----------------------------------------

BILLION_LAUGHS = "".join(
    ["pipelines:\n  p:\n    stages:\n      - resize:\n          long_side:\n"]
    + ['            - &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    + [f"            - &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)


@pytest.fixture(params=["libyaml", "python"])
def yaml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with libyaml's parser (the default where PyYAML has it) and with PyYAML's own."""
    import yaml

    if request.param == "libyaml" and not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml here")
    monkeypatch.setattr(config, "_pure_python_yaml", request.param == "python")
    return request.param


def one_line_error(call, *args, **kwargs) -> str:
    with pytest.raises(ConfigError) as err:
        call(*args, **kwargs)
    message = str(err.value)
    assert "\n" not in message and len(message) < 500, message[:1000]
    return message


def test_alias_bomb_is_refused_while_parsing(tmp_path: Path, yaml_parser: str) -> None:
    path = write(tmp_path, BILLION_LAUGHS)  # 9^9 strings once expanded, in 600 bytes
    message = one_line_error(load_pipeline_spec, path, "p")
    assert message.startswith(f"{path}: line ") and f"more than {config.MAX_CONFIG_NODES} YAML nodes" in message


def test_alias_bomb_in_a_set_value_is_refused(tmp_path: Path, yaml_parser: str) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n")
    levels = [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb = f"[&a0 [1, 1, 1, 1, 1, 1, 1, 1, 1], {', '.join(levels)}]"
    message = one_line_error(load_pipeline_spec, path, "p", overrides=[f"test-gain.factor={bomb}"])
    assert "--set 'test-gain.factor=[&a0" in message and "YAML nodes" in message


def _expanded(value: object) -> tuple[int, int]:
    """(nodes, depth) of a loaded YAML value walked whole, mapping keys included."""
    if isinstance(value, dict):
        parts = [_expanded(k) for k in value] + [_expanded(v) for v in value.values()]
    elif isinstance(value, list):
        parts = [_expanded(v) for v in value]
    else:
        return 1, 1
    return 1 + sum(n for n, _ in parts), 1 + max((d for _, d in parts), default=0)


def test_limits_count_what_aliases_expand_to(tmp_path: Path, yaml_parser: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The node and depth bounds apply to the document walked whole, aliases expanded, exactly."""
    import yaml

    text = (
        "pipelines:\n  p:\n    stages:\n      - test-gain: &g {factor: 2, clip: [&l [1, [2, 3]], *l]}\n"
        "      - test-gain: *g\n      - {test-gain: {clip: [*l, *g, [*g]]}}\n"
    )
    path = write(tmp_path, text)
    nodes, depth = _expanded(yaml.safe_load(text))
    assert (nodes, depth) == (82, 13)  # 27 nodes and 5 aliases as written
    for name, limit in (("MAX_CONFIG_NODES", nodes), ("MAX_CONFIG_DEPTH", depth)):
        monkeypatch.setattr(config, name, limit)
        read_config(path)
        monkeypatch.setattr(config, name, limit - 1)
        assert str(limit - 1) in one_line_error(read_config, path)
        monkeypatch.undo()
        monkeypatch.setattr(config, "_pure_python_yaml", yaml_parser == "python")


def test_deep_nesting_is_one_line_error(tmp_path: Path, yaml_parser: str) -> None:
    for body in ("[" * 1000 + "]" * 1000, "".join("\n" + " " * (12 + i) + "- x" for i in range(1000))):
        path = write(tmp_path, f"pipelines:\n  p:\n    stages:\n      - test-gain: {{factor: {body}}}\n")
        assert "nesting" in one_line_error(read_config, path)


def test_recursive_alias_is_refused(tmp_path: Path, yaml_parser: str) -> None:
    path = write(tmp_path, "pipelines:\n  p: &p\n    stages: [test-gain]\n    description: *p\n")
    assert "alias *p refers to a node that contains it" in one_line_error(read_config, path)


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    with path.open("wb") as f:
        f.truncate(10 * 2**30)  # a 10 GiB sparse file: reading it whole takes 10 GiB
    message = one_line_error(read_config, path)
    assert message.startswith(str(path)) and "more than 1048576 bytes" in message


def test_endless_stream_is_read_only_to_the_limit(tmp_path: Path) -> None:
    """A FIFO (or /dev/zero, or a growing file) is read in chunks and refused 1 byte past the limit."""
    import threading

    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    written = []

    def feed() -> None:
        try:
            with fifo.open("wb") as f:
                for _ in range(64):  # 4 MiB of comments, far more than the reader may take
                    f.write(b"# " + b"x" * 65534)
                    written.append(1)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    message = one_line_error(read_config, fifo)
    writer.join(timeout=30)
    assert "more than 1048576 bytes" in message and len(written) < 64
    if Path("/dev/zero").exists():
        assert "more than 1048576 bytes" in one_line_error(read_config, "/dev/zero")


def test_long_values_names_and_set_strings_are_quoted_briefly(tmp_path: Path) -> None:
    long = "x" * 900_000  # under the file size limit
    path = write(tmp_path, f"pipelines:\n  p:\n    stages:\n      - test-gain: {{factor: {long}}}\n")
    assert "factor='xxxx" in (message := one_line_error(load_pipeline_spec, path, "p"))
    assert "(900000 characters)" in message
    name = "n\x1b[2J" * 100  # an implicit YAML key is under 1024 characters
    escaped = name.replace("\x1b", "\\e")  # YAML's escape for ESC in a double-quoted string
    path = write(tmp_path, f'pipelines:\n  "{escaped}":\n    stages: ["{escaped}"]\n')
    message = str(load_pipelines(path)[name])  # the error `pipelines validate` and `list` print
    assert "\x1b" not in message and "pipeline 'n\\x1b[2Jn" in message and len(message) < 500
    message = one_line_error(load_pipeline_spec, path, "y" * 100_000)
    assert "no pipeline named 'yyy" in message and "defined: 'n\\x1b[2Jn" in message
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n")
    message = one_line_error(load_pipeline_spec, path, "p", overrides=[f"test-gain.factor={long}"])
    assert "factor='xxx" in message and "(900000 characters) is invalid" in message
    message = one_line_error(load_pipeline_spec, path, "p", overrides=[f"{'k' * 100_000}.factor=1"])
    assert "no stage 'kkk" in message


def test_numbers_too_long_and_bad_safe_tags_are_yaml_errors(tmp_path: Path, yaml_parser: str) -> None:
    for value, problem in (
        ("9" * 5000, "a number of 5000 characters, over 100"),  # int() refuses > 4300 digits
        (":".join(["59"] * 200), "a number of 599 characters"),  # base 60, slow as a big int
        ("!!int abc", "'abc' is not a valid !!int"),
        ("!!bool maybe", "'maybe' is not a valid !!bool"),
        ("!!timestamp soon", "'soon' is not a valid !!timestamp"),
        ("!!float x", "'x' is not a valid !!float"),
        ("!!int", "'' is not a valid !!int"),  # found by the property test: IndexError inside PyYAML
        ("!!bool", "'' is not a valid !!bool"),
    ):
        path = write(tmp_path, f"pipelines:\n  p:\n    seed: {value}\n    stages: [test-gain]\n")
        message = one_line_error(read_config, path)
        assert "line 3, column 11: invalid YAML: " in message and problem in message


def test_nan_inf_and_seed_past_a_generator_are_invalid(tmp_path: Path) -> None:
    for text, problem in (
        ("    stages: [{test-gain: {factor: .inf}}]\n", "factor=inf is invalid: Input should be a finite number"),
        ("    stages: [{test-gain: {factor: .nan}}]\n", "factor=nan is invalid"),
        ("    seed: 18446744073709551616\n    stages: [test-gain]\n", "seed=18446744073709551616 is invalid"),
    ):
        path = write(tmp_path, "pipelines:\n  p:\n" + text)
        assert problem in one_line_error(load_pipeline_spec, path, "p")
    path = write(tmp_path, "pipelines:\n  p:\n    seed: 18446744073709551615\n    stages: [test-gain]\n")
    assert load_pipeline_spec(path, "p").seed == 2**64 - 1


def test_odd_keys_are_one_line_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n1: x\nb: y\n")  # keys that don't sort
    assert "unknown top-level key(s) 1, b" in one_line_error(read_config, path)
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [{test-gain: {1: 2}}]\n")
    assert "parameter name 1 is not text; allowed: factor, clip" in one_line_error(load_pipeline_spec, path, "p")
    path = write(tmp_path, "pipelines:\n  p:\n    stages: [test-gain]\n")
    message = one_line_error(load_pipeline_spec, path, "p", overrides=["9" * 5000 + ".factor=1"])
    assert "unknown key '9999" in message  # a position past any pipeline, never int() of 5000 digits


def test_a_forbidden_character_is_located(tmp_path: Path, yaml_parser: str) -> None:
    path = write(tmp_path, "pipelines:\n  p:\n    description: é\x1b\n    stages: [test-gain]\n")
    message = one_line_error(read_config, path)
    assert message == f"{path}: line 3, column 19: invalid YAML: character '\\x1b' is not allowed in YAML"


def test_the_output_spec_says_what_each_output_becomes() -> None:
    same16 = OutputSpec(format="same", bit_depth=16)
    assert same16.bit_depth_for(Path("a.png")) == (16, None)
    assert same16.bit_depth_for(Path("a.jpg")) == (8, "written 8-bit: JPEG holds 8-bit samples only")
    assert same16.suffix_for(Path("a.JPG")) == ".JPG"
    assert same16.encode_options(Path("a.webp")) == {"format": "WEBP", "quality": 95, "lossless": False}
    webp = OutputSpec(format="webp", quality=80)
    assert webp.suffix_for(Path("a.png")) == ".webp" and webp.bit_depth_for(Path("a.png")) == (8, None)
    assert webp.encode_options(None) == {"format": "webp", "quality": 80, "lossless": False}
