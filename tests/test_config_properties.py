"""Property: any pipelines.yaml and any ``--set`` either validate, or give one short line and exit 2.

Hypothesis writes random documents shaped like pipelines.yaml (valid ones, and ones mutated with
wrong types, unknown stages and parameters, out-of-range values, odd unicode keys, deep nesting,
shared subtrees the dumper writes as aliases, huge numbers, NaN and infinity, empty documents,
lists where mappings belong, broken text) and random ``--set`` strings (valid paths and garbage),
and runs them through ``enhance run --dry-run`` on an empty folder, ``enhance pipelines
validate`` and ``enhance pipelines show``, in-process. Only validation runs: no image is read,
no model loaded.

It runs derandomized (the same examples on every run, so CI is reproducible); set
``HYPOTHESIS_PROFILE=explore`` for a longer randomized search.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from enhance.cli import app

settings.register_profile(
    "ci",
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

#: the longest error line accepted, prefix included
LINE_LIMIT = 500
METRICS = ["sharpness", "banding", "entropy", "png_bpp", "niqe", "psnr", "nope"]  # the last two are refused
METHODS = ["area", "lanczos", "bicubic", "matlab-bicubic"]

# -- valid pieces --------------------------------------------------------------------------------

positive = st.integers(1, 8192)
unit_float = st.floats(0.01, 8.0, allow_nan=False)
deband = st.fixed_dictionaries(
    {},
    optional={
        "threshold": st.floats(0.5, 64),
        "radius": st.integers(2, 128),
        "iterations": st.integers(1, 5),
        "grain": st.floats(0, 8),
        "seed": st.integers(0, 2**32),
        "channels": st.sampled_from(["all", "luma", "chroma"]),
    },
)
resize_target = st.one_of(
    st.fixed_dictionaries({"long_side": positive}),
    st.fixed_dictionaries({"size": st.lists(positive, min_size=2, max_size=2)}),
    st.fixed_dictionaries({"scale": unit_float}),
    st.fixed_dictionaries({"width": positive}, optional={"height": positive}),
    st.fixed_dictionaries({"height": positive}),
)
resize = st.tuples(
    resize_target,
    st.fixed_dictionaries(
        {},
        optional={
            "method": st.sampled_from(METHODS),
            "linear_light": st.booleans(),
            "only": st.sampled_from(["always", "down", "up"]),
        },
    ),
).map(lambda parts: {**parts[0], **parts[1]})
score = st.fixed_dictionaries(
    {},
    optional={
        "metrics": st.one_of(st.lists(st.sampled_from(METRICS), min_size=1, max_size=3), st.just("sharpness")),
        "at": st.sampled_from(["output", "input", "native"]),
    },
)
upscale = st.fixed_dictionaries(
    {},
    optional={
        "tile": st.one_of(st.just("auto"), st.integers(0, 1024)),
        "tile_overlap": st.integers(0, 64),
        "batch": st.one_of(st.just("auto"), st.integers(1, 8)),
        "precision": st.sampled_from(["auto", "fp32", "fp16"]),
        "long_side": positive,
    },
)
STAGES = {"deband": deband, "resize": resize, "score": score, "upscale": upscale}


@st.composite
def stage_entry(draw: st.DrawFn) -> Any:
    name = draw(st.sampled_from(sorted(STAGES)))
    params = draw(STAGES[name])
    if not params and name != "resize" and draw(st.booleans()):
        return name  # the short form: a bare name
    return {name: params}


output = st.fixed_dictionaries(
    {},
    optional={
        "format": st.sampled_from(["png", "jpeg", "webp", "tiff", "same"]),
        "bit_depth": st.just(8),
        "dither": st.booleans(),
        "quality": st.integers(1, 100),
        "lossless": st.booleans(),
        "suffix": st.sampled_from(["", "_4k", "-x"]),
    },
)
pipeline = st.fixed_dictionaries(
    {"stages": st.lists(stage_entry(), min_size=1, max_size=5)},
    optional={
        "description": st.text(max_size=30),
        "device": st.just("cpu"),
        "seed": st.integers(0, 2**40),
        "output": output,
    },
)
names = st.one_of(st.sampled_from(["p", "restore-4k", "q"]), st.text(min_size=1, max_size=12))
document = st.dictionaries(names, pipeline, min_size=1, max_size=3).map(lambda d: {"pipelines": d})

# -- what mutations put in -----------------------------------------------------------------------

big_ints = st.one_of(st.integers(), st.integers(-(2**80), 2**80), st.sampled_from([2**64, 10**99, -1, 0]))
odd_floats = st.one_of(st.floats(), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324]))
odd_text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=10),  # controls, bidi, format characters
    st.sampled_from(["", " ", "~", "null", "*x", "&a", "!!int", "[", "{", "- a", "a: b", "\t", "\u202e", "\x1b[2J"]),
    st.integers(1, 3000).map(lambda n: "x" * n),
)
scalars = st.one_of(st.none(), st.booleans(), big_ints, odd_floats, odd_text)
keys = st.one_of(odd_text, big_ints)
weird = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _shared(width: int, levels: int) -> Any:
    """Nested lists sharing their items: the dumper writes anchors and aliases (a bomb when big)."""
    value: Any = ["lol"] * width
    for _ in range(levels):
        value = [value] * width
    return value


special = st.one_of(
    weird,
    st.integers(25, 45).map(_nested),  # around the depth limit
    st.sampled_from([(2, 2), (9, 3), (10, 4), (9, 8), (2, 40)]).map(lambda wl: _shared(*wl)),  # up to a bomb
    st.sampled_from(sorted(STAGES)),
    st.builds(lambda: {"unknown-stage": {"x": 1}}),
    st.builds(lambda: {"resize": {"long_side": 1, "width": 2}}),  # two targets
    st.builds(lambda: {"deband": {"radius": 1_000_000}}),  # out of range
)


def _recursive() -> Any:
    loop: list[Any] = ["x"]
    loop.append(loop)  # written as &id001 [x, *id001]
    return loop


hostile = st.one_of(
    st.sampled_from([(10, 4), (9, 8), (2, 40), (100, 2)]).map(lambda wl: _shared(*wl)),  # past the node bound
    st.integers(28, 250).map(_nested),  # past the depth bound, where it lands (the dumper recurses)
    st.builds(_recursive),
    st.sampled_from([10**4000, -(10**200), 2**64, float("nan"), float("inf")]),
    st.integers(1, 900_000).map(lambda n: "v" * n),  # long values in messages
    st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=50),
)


def _slots(node: Any, path: tuple = (), seen: set[int] | None = None) -> list[tuple]:
    """The places in a document a mutation may replace (paths of keys and indices), each shared
    subtree walked once (a bomb from an earlier mutation must not be walked whole)."""
    seen = set() if seen is None else seen
    found = [path]
    if isinstance(node, (dict, list)) and id(node) not in seen and len(seen) < 200:
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            found += _slots(value, (*path, key), seen)
    return found


def _replace(node: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[head] = _replace(copy[head], rest, value)
    return copy


@st.composite
def mutated(draw: st.DrawFn, doc: dict[str, Any]) -> Any:
    """``doc`` with a few places replaced, keys added, or an existing subtree reused (an alias)."""
    for _ in range(draw(st.integers(0, 3))):
        slots = _slots(doc)[1:]  # not the root: whole odd documents are the garbage kind's part
        inner = [slot for slot in slots if len(slot) >= 3]  # inside a pipeline: where most doors are
        path = draw(st.sampled_from(inner if inner and draw(st.integers(0, 3)) else slots))
        kind = draw(st.sampled_from(["value", "subtree", "key"]))
        if kind == "value":
            doc = _replace(doc, path, draw(special))
        elif kind == "subtree":  # the same object twice: written as &id001 ... *id001
            other = draw(st.sampled_from(slots))
            target = doc
            for step in other:
                target = target[step]
            doc = _replace(doc, path, target)
        else:
            target = doc
            for step in path:
                target = target[step]
            if isinstance(target, dict):
                doc = _replace(doc, path, {**target, draw(keys): draw(special)})
    return doc


@st.composite
def yaml_text(draw: st.DrawFn) -> str:
    """A pipelines file: a dumped document (valid or mutated), maybe broken as text, or garbage."""
    kind = draw(st.sampled_from(["valid"] * 6 + ["mutated"] * 6 + ["hostile"] * 3 + ["broken"] * 3 + ["garbage"] * 2))
    if kind == "garbage":
        return draw(st.one_of(odd_text, st.sampled_from(["", "---\n...\n", "pipelines:", "pipelines: []", "- 1"])))
    doc = draw(document)
    if kind == "hostile":  # one hostile value somewhere inside a pipeline
        slots = [slot for slot in _slots(doc) if len(slot) >= 3]
        doc = _replace(doc, draw(st.sampled_from(slots)), draw(hostile))
    elif kind != "valid":
        doc = draw(mutated(doc))
    try:
        text = yaml.safe_dump(doc, allow_unicode=draw(st.booleans()), sort_keys=False, width=10**6)
    except (yaml.YAMLError, RecursionError, ValueError):  # what PyYAML cannot write: a plain doc
        text = yaml.safe_dump(draw(document))
    if kind == "broken" and text:
        cut = len(text) - draw(st.integers(0, len(text)))  # small draws cut near the end
        tails = ["", ":", "]", "\t", "&a", "*b", "!!python/name:os.system", "{", "[" * 2000, " - " * 500, "\x00"]
        text = text[:cut] + draw(st.sampled_from(tails))
    return text


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip()


SET_PATHS = [
    *("device", "seed", "description", "output.format", "output.quality", "output.bit_depth", "output.nope"),
    *(f"{name}{path}" for name in STAGES for path in (".long_side", ".scale", "[2].radius", ".nope")),
    *("1.scale", "2.threshold", "0.x", "9" * 30 + ".x", "resize", "=", ".x", "a.b.c"),
]
set_value = st.one_of(
    st.sampled_from(["2048", "0", "-1", "2.5", ".inf", ".nan", "true", "[1, 2]", "{a: 1}", "png", "~", "", "cpu"]),
    st.sampled_from(["auto", "'quoted", "[unclosed", "!!int x", "*undefined", "&a [*a]", "1e999", "9" * 5000]),
    big_ints.map(str),
    odd_text,
    st.sampled_from([(2, 2), (10, 4), (9, 8)]).map(lambda wl: _flow(_shared(*wl))),  # an alias bomb in --set
)


VALID_SETS = [
    "device=cpu",
    "seed=7",
    "output.quality=80",
    "output.format=webp",
    "output.dither=false",
    "description=a: b",
]


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    """Mostly none or settings that apply to any pipeline; else a known path with an odd value, or garbage."""
    items = []
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2, 3]))):
        kind = draw(st.sampled_from(["valid", "valid", "path", "garbage"]))
        if kind == "valid":
            items.append(draw(st.sampled_from(VALID_SETS)))
        elif kind == "path":
            items.append(f"{draw(st.sampled_from(SET_PATHS))}={draw(set_value)}")
        else:
            items.append(draw(odd_text))
    return [item.replace("\x00", "") for item in items]  # argv cannot hold NUL


# -- the property --------------------------------------------------------------------------------


def _check(result: Any, *, several: bool = False) -> None:
    """Exit 0, or exit 2 with one short printable ``enhance: error:`` line (validate: one per pipeline)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr[-2000:])
    lines = result.stderr.splitlines()
    for line in lines:
        assert len(line) <= LINE_LIMIT, line[:1000]
        assert line.isprintable(), repr(line[:1000])
    if result.exit_code == 2:
        if several and lines and lines[0].startswith("invalid: "):
            assert all(line.startswith("invalid: ") for line in lines), lines
        else:
            assert len(lines) == 1 and lines[0].startswith("enhance: error: "), lines
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def _category(stderr: str) -> str:
    """A rough class of error, for ``--hypothesis-show-statistics`` (which doors the examples reach)."""
    for words in (
        "expected a top-level",
        "expected KEY=VALUE",
        "YAML nodes",
        "nesting",
        "invalid YAML",
        "recursive",
        "--set",
        "unknown stage",
        "no pipeline named",
        "unknown parameter",
        "is invalid",
        "expected",
        "must be",
        "top-level",
        "device",
    ):
        if words in stderr:
            return words
    return stderr[16:60] if stderr else "ok"


@pytest.fixture(scope="module")
def work() -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in").mkdir()
        yield folder


@settings(settings.get_profile(PROFILE))
@given(text=yaml_text(), sets=overrides(), name=st.one_of(st.just("p"), names), use_name=st.integers(0, 9))
def test_any_config_and_set_validate_or_fail_in_one_line(
    work: Path, text: str, sets: list[str], name: str, use_name: int
) -> None:
    config = work / "pipelines.yaml"
    config.write_text(text, encoding="utf-8")
    if use_name:  # mostly a pipeline the file defines, when it is a mapping with names
        try:
            defined = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))["pipelines"]
            name = str(next(iter(defined)))
        except Exception:
            pass
    runner = CliRunner()
    args = ["run", str(work / "in"), "-o", str(work / "out"), "-c", str(config), f"--pipeline={name}"]
    result = runner.invoke(app, [*args, *(f"--set={item}" for item in sets), "--dry-run"])
    _check(result)
    event(f"run: exit {result.exit_code}, {_category(result.stderr)}")
    if result.exit_code == 0:
        assert "0 file(s); dry run, nothing written" in result.stdout
    _check(runner.invoke(app, ["pipelines", "validate", "-c", str(config)]), several=True)
    _check(runner.invoke(app, ["pipelines", "show", "-c", str(config), "--", name]))
