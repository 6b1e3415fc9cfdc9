"""pipelines.yaml: schema, loading, ``--set`` overrides and error messages a person can act on.

A pipelines file maps names to pipelines::

    pipelines:
      restore-4k:
        description: Deband, downscale to 2K, super-resolve, exactly 4K, score.
        device: auto            # auto | cpu | cuda | cuda:N
        seed: 0                 # base seed for dither and grain
        output: {format: png, bit_depth: 8, dither: true}
        stages:
          - deband                       # a stage with its defaults
          - resize: {long_side: 2048}    # a stage with parameters
          - ...

Everything is validated before any image is touched: an unknown stage, unknown parameter or bad
value raises :class:`~enhance.errors.ConfigError` with one line naming the file, pipeline, stage
position, parameter and what is allowed.

The file is read and parsed within bounds, so a hostile or mistaken file costs little: at most
:data:`MAX_CONFIG_BYTES` are read (whatever the file is: a FIFO, ``/dev/zero``, a huge sparse
file), and the YAML may expand to at most :data:`MAX_CONFIG_NODES` nodes nested at most
:data:`MAX_CONFIG_DEPTH` deep, aliases counted by what they expand to (an alias bomb is refused
while it is parsed, before any Python object is built). Only YAML's safe tags are understood.
Messages quote at most a short, escaped part of any value, name or ``--set`` text.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .credentials.signing import ContentCredentialsSettings
from .errors import ConfigError, StageUnavailableError, first_line, printable, quote, shorten

if TYPE_CHECKING:
    from .credentials.signing import ContentSigner

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PIPELINE",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_DEPTH",
    "MAX_CONFIG_NODES",
    "OutputSpec",
    "PipelineSpec",
    "StageSpec",
    "apply_overrides",
    "default_config_path",
    "load_pipeline_spec",
    "load_pipelines",
    "no_such_pipeline",
    "read_config",
]

CONFIG_ENV = "ENHANCE_CONFIG"
DEFAULT_PIPELINE = "restore-4k"

#: the most bytes read from a pipelines file or one ``--set`` value (the shipped file has 3 KB)
MAX_CONFIG_BYTES = 1 << 20
#: the most YAML nodes a document may expand to, an alias counting as all it stands for
MAX_CONFIG_NODES = 10_000
#: the deepest nesting, aliases expanded (a pipelines file needs 7 levels)
MAX_CONFIG_DEPTH = 32
#: the longest number literal (a seed needs 20 digits; longer ones only cost time)
_MAX_NUMBER_CHARS = 100


class OutputSpec(BaseModel):
    """How results are written: the settings, and the policy they make for each input file
    (:meth:`encode_options`, :meth:`bit_depth_for`, :meth:`suffix_for`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["png", "jpeg", "webp", "tiff", "avif", "jxl", "same"] = Field(
        "png", description="output container; 'same' keeps each input's format (GIF inputs give PNG)"
    )
    bit_depth: Literal[8, 16] = Field(
        8,
        description="bits per sample; 16 for PNG/TIFF only (with format 'same', other outputs are written 8-bit)",
    )
    dither: bool = Field(True, description="TPDF-dither when quantizing to 8 bits (keeps smooth gradients smooth)")
    quality: int | None = Field(
        None, ge=1, le=100, description="JPEG/WebP/AVIF/JPEG XL quality; by default 95 (JPEG, WebP), 90 (AVIF, JPEG XL)"
    )
    lossless: bool = Field(False, description="lossless WebP or JPEG XL")
    compress_level: int | None = Field(
        None, ge=0, le=9, description="PNG zlib level 0-9 (lower: faster, larger); by default 3 (enhance.io.pngwrite)"
    )
    suffix: str = Field("", description="appended to each output file's stem, e.g. '_4k'")
    content_credentials: ContentCredentialsSettings | None = Field(
        None,
        description="sign each output with a new C2PA manifest: {certificate, private_key, algorithm, timestamp_url}",
    )

    @model_validator(mode="after")
    def _check(self) -> OutputSpec:
        if self.bit_depth == 16 and self.format in ("jpeg", "webp", "avif", "jxl"):
            raise ValueError(f"bit_depth 16 needs format png or tiff; {self.format} holds 8 bits only here")
        if any(sep in self.suffix for sep in ("/", "\\")) or self.suffix in (".", ".."):
            raise ValueError(f"suffix {quote(self.suffix)} must not contain a path separator")
        if self.format == "jxl":
            from .io import jxl_available

            if not jxl_available():
                raise ValueError(
                    "format jxl needs pillow-jxl-plugin (GPL-3.0-or-later, not installed by default): "
                    "pip install 'enhance[jxl]'"
                )
        return self

    # -- output policy: what an output of a given input file becomes -----------------------------

    def format_for(self, source: Path | None) -> str:
        """The format the output of ``source`` is written in (``PNG``, ``JPEG``...)."""
        from .io import WRITABLE, format_for_suffix

        if self.format != "same":
            return format_for_suffix(self.format)
        fmt = format_for_suffix(source.suffix) if source is not None else "PNG"
        return fmt if fmt in WRITABLE else "PNG"  # read-only formats (GIF) give PNG

    def encode_options(self, source: Path | None = None) -> dict[str, Any]:
        """Keyword arguments for :func:`enhance.io.encode` for the output of ``source``."""
        from .io import DEFAULT_QUALITY

        fmt = self.format_for(source)
        quality = self.quality if self.quality is not None else DEFAULT_QUALITY.get(fmt)
        name = fmt if self.format == "same" else self.format
        options: dict[str, Any] = {"format": name, "quality": quality, "lossless": self.lossless}
        if fmt == "PNG":
            from .io import PNG_COMPRESS_LEVEL

            options["compress_level"] = PNG_COMPRESS_LEVEL if self.compress_level is None else self.compress_level
        return options

    def signer(self) -> ContentSigner | None:
        """The signer for ``content_credentials`` (None without them), checked before any image:
        :func:`enhance.credentials.signing.prepare_signer` raises ConfigError for bad settings."""
        if self.content_credentials is None:
            return None
        from .credentials.signing import prepare_signer

        return prepare_signer(self.content_credentials)

    def bit_depth_for(self, source: Path | None) -> tuple[int, str | None]:
        """The bit depth the output of ``source`` is quantized to, and a warning when it is not the asked one.

        With ``format: same`` and ``bit_depth: 16`` the spec covers mixed inputs: PNG/TIFF outputs
        get 16 bits, while JPEG/WebP outputs (which hold 8-bit samples only) are written 8-bit,
        dithered as ``dither`` says, instead of failing after the compute.
        """
        from .io import EIGHT_BIT_ONLY  # the formats io refuses 16-bit samples for

        if self.bit_depth == 8 or self.format != "same" or source is None:
            return self.bit_depth, None
        try:
            fmt = self.format_for(source)
        except ValueError:  # no usable suffix: planning refuses it; encode names the problem otherwise
            return self.bit_depth, None
        if fmt in EIGHT_BIT_ONLY:
            return 8, f"written 8-bit: {fmt} holds 8-bit samples only"
        return self.bit_depth, None

    def suffix_for(self, source: Path) -> str:
        """The file suffix the output of ``source`` gets (``.png``, ``.jpg``...), before ``suffix``."""
        from .io import format_for_suffix, suffix_for_format

        fmt = self.format_for(source)
        if self.format == "same" and fmt == format_for_suffix(source.suffix):
            return source.suffix  # as the input spells it (.jpeg, .TIF)
        return suffix_for_format(fmt)


@dataclass(frozen=True)
class StageSpec:
    """One validated stage entry: its name, 1-based position and parameter model."""

    name: str
    position: int
    params: Any


@dataclass(frozen=True)
class PipelineSpec:
    """A validated pipeline definition, ready to build."""

    name: str
    source: Path | None
    description: str = ""
    device: str = "auto"
    seed: int = 0
    output: OutputSpec = field(default_factory=OutputSpec)
    stages: tuple[StageSpec, ...] = ()


class _PipelineFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str = ""
    device: str = "auto"
    seed: int = Field(0, ge=0, le=2**64 - 1)  # what a torch generator takes
    output: OutputSpec = Field(default_factory=OutputSpec)
    stages: list[Any] = Field(min_length=1)


# -- locating and reading the file -------------------------------------------------------------


def default_config_path() -> Path:
    """The pipelines file to use when none is given.

    Order: ``$ENHANCE_CONFIG`` → ``./pipelines.yaml`` in the working directory → the file that ships
    with enhance (inside the package in a wheel; at the repository root in a checkout).
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path.cwd() / "pipelines.yaml"
    if local.is_file():
        return local
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "pipelines.yaml", package_dir.parent / "pipelines.yaml"):
        if candidate.is_file():
            return candidate
    raise ConfigError("no pipelines.yaml found: pass --config FILE or set ENHANCE_CONFIG")


def _show_path(path: Path | str) -> str:
    """A path for a message: escaped, and cut to its last 120 characters (the file name is the end)."""
    text = printable(str(path))
    return text if len(text) <= 120 else "…" + text[-119:]


def _listing(names: Iterable[Any], most: int = 8) -> str:
    """``a, b, c`` for a message: the first ``most`` names, each quoted briefly, then how many more."""
    names = list(names)
    shown = ", ".join(_name(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _name(value: Any) -> str:
    """A name from a file or the command line for a message: as is when short and plain, else quoted."""
    text = str(value)
    return text if len(text) <= 40 and text.isprintable() and "'" not in text else quote(text, 40)


def _read_bounded(path: Path) -> str:
    """Read at most :data:`MAX_CONFIG_BYTES` from ``path`` as UTF-8, whatever kind of file it is.

    A regular file's size is checked before anything is read; devices, FIFOs and files that grow
    are read in chunks up to one byte past the limit, so ``/dev/zero`` costs 1 MiB, not the machine.
    """
    limit = MAX_CONFIG_BYTES
    too_big = (
        f"{_show_path(path)}: more than {limit} bytes (1 MiB, the limit for a pipelines file); "
        "pipelines files are a few KB: check the --config path"
    )
    try:
        with open(path, "rb", buffering=0) as stream:
            info = os.fstat(stream.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise ConfigError(f"{_show_path(path)}: is a folder, not a pipelines file; check the --config path")
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise ConfigError(too_big)
            chunks, size = [], 0
            while size <= limit:
                chunk = stream.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
    except FileNotFoundError:
        raise ConfigError(f"{_show_path(path)}: pipelines file not found; check the --config path") from None
    except IsADirectoryError:
        raise ConfigError(f"{_show_path(path)}: is a folder, not a pipelines file; check the --config path") from None
    except OSError as exc:
        raise ConfigError(f"{_show_path(path)}: cannot read pipelines file ({exc.strerror or exc})") from None
    if size > limit:
        raise ConfigError(too_big)
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{_show_path(path)}: not UTF-8 text (byte {exc.start}: {quote(exc.object[exc.start : exc.start + 4])}); "
            "save the pipelines file as UTF-8"
        ) from None


class _Refused(Exception):
    """A document past one of the bounds; ``problem`` says which, ``mark`` where (for ConfigError)."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem, self.mark = problem, mark


@functools.lru_cache(maxsize=2)
def _make_loader(pure_python: bool = False) -> type:
    """A safe YAML loader that refuses, while it composes, documents past the node and depth bounds.

    PyYAML composes aliases by reference, so ``*a`` costs nothing while parsing; the cost comes
    later, in whatever walks the result (validation, messages, ``pipelines show``): nine levels of
    nine aliases each expand to 9^9 values. So every node is counted by what it expands to: a
    node's extent (nodes and height below it) is recorded when it is complete, and an alias adds
    its anchor's extent at the depth where it appears. A document that would pass
    :data:`MAX_CONFIG_NODES` or :data:`MAX_CONFIG_DEPTH` stops there, before construction builds
    any Python object. An alias to a node that contains it (a recursive structure) is refused too.

    Events come from libyaml when PyYAML has it (much faster) unless ``pure_python``, else from
    PyYAML's Python parser; composition is PyYAML's own composer either way, with the counting
    around it. Number literals
    longer than 100 characters are refused (``int()`` of a long one is slow or refused by Python),
    and a value of a safe tag that does not parse (``!!int x``) is an invalid-YAML error, not a crash.
    """
    import yaml
    from yaml.composer import Composer
    from yaml.constructor import ConstructorError
    from yaml.events import AliasEvent
    from yaml.nodes import ScalarNode

    class BoundedComposer(Composer):
        def compose_document(self) -> Any:
            self._expanded = 0  # nodes so far, aliases expanded
            self._depth = 0  # of the node being composed
            self._reach = 0  # the deepest level reached inside the node being composed
            self._extents: dict[str, tuple[int, int]] = {}  # anchor → (nodes, height) once complete
            return super().compose_document()

        def _grow(self, nodes: int, reach: int, mark: Any) -> None:
            self._expanded += nodes
            self._reach = max(self._reach, reach)
            if self._expanded > MAX_CONFIG_NODES:
                raise _Refused(
                    f"the document expands to more than {MAX_CONFIG_NODES} YAML nodes (aliases counted by "
                    "what they stand for), the limit for a pipelines file",
                    mark,
                )
            if reach > MAX_CONFIG_DEPTH:
                raise _Refused(
                    f"nesting deeper than {MAX_CONFIG_DEPTH} levels (aliases expanded), the limit for a "
                    "pipelines file; a pipeline needs 7",
                    mark,
                )

        def compose_node(self, parent: Any, index: Any) -> Any:
            depth = self._depth + 1
            event = self.peek_event()
            if isinstance(event, AliasEvent):
                extent = self._extents.get(event.anchor)
                if extent is None and event.anchor in self.anchors:
                    raise _Refused(
                        f"alias *{_name(event.anchor)} refers to a node that contains it (a recursive structure)",
                        event.start_mark,
                    )
                if extent is not None:
                    self._grow(extent[0], depth + extent[1] - 1, event.start_mark)
                return super().compose_node(parent, index)  # an undefined alias: PyYAML's own error
            outer_reach, start = self._reach, self._expanded
            self._reach = depth
            self._grow(1, depth, event.start_mark)
            self._depth = depth
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth = depth - 1
            if event.anchor is not None:
                self._extents[event.anchor] = (self._expanded - start, self._reach - depth + 1)
            self._reach = max(outer_reach, self._reach)
            return node

    base = yaml.SafeLoader if pure_python else getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class BoundedLoader(BoundedComposer, base):  # type: ignore[misc, valid-type]
        def __init__(self, stream: str) -> None:
            base.__init__(self, stream)
            Composer.__init__(self)

        def construct_object(self, node: Any, deep: bool = False) -> Any:
            if (
                isinstance(node, ScalarNode)
                and node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
                and len(node.value) > _MAX_NUMBER_CHARS
            ):
                raise ConstructorError(
                    None, None, f"a number of {len(node.value)} characters, over {_MAX_NUMBER_CHARS}", node.start_mark
                )
            try:
                return super().construct_object(node, deep)
            except (ValueError, TypeError, LookupError, AttributeError, ArithmeticError):
                # a safe tag on a value that is not one (`!!int x`, `!!bool maybe`, `!!timestamp y`,
                # an empty `!!int`: IndexError inside PyYAML)
                tag = node.tag.rpartition(":")[2]
                raise ConstructorError(
                    None, None, f"{quote(node.value, 40)} is not a valid !!{tag}", node.start_mark
                ) from None

    return BoundedLoader


#: parse with PyYAML's Python parser even where libyaml is present (tests cover both)
_pure_python_yaml = False


def _parse_yaml(text: str) -> Any:
    """Parse one YAML document within the bounds (see :func:`_make_loader`).

    Raises:
        _Refused: past a bound (never falls back to anything).
        yaml.YAMLError: not valid YAML.
    """
    loader = _make_loader(_pure_python_yaml)(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _yaml_problem(exc: Exception, text: str = "") -> tuple[str, str]:
    """(``: line L, column C`` or nothing, the problem on one short line) from a YAML error or refusal."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "mark", None)
    where = f": line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or first_line(exc)
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context:  # "while scanning a simple key", "found duplicate anchor 'a'; first occurrence"
        at = f" at line {context_mark.line + 1}, column {context_mark.column + 1}" if context_mark else ""
        problem = f"{problem} ({context}{at})"
    position = getattr(exc, "position", None)  # a ReaderError: a character the YAML spec forbids
    if mark is None and isinstance(position, int) and text:
        if getattr(exc, "encoding", None) != "unicode":  # libyaml counts bytes
            position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))
        line = text.count("\n", 0, position)
        where = f": line {line + 1}, column {position - text.rfind(chr(10), 0, position)}"
        problem = f"character {quote(text[position : position + 1])} is not allowed in YAML"
    return where, shorten(printable(problem), 200)


def read_config(path: Path | str | None = None) -> tuple[Path, dict[str, Any]]:
    """Read a pipelines file safely and within bounds; returns its path and the ``pipelines``
    mapping (unvalidated).

    Raises:
        ConfigError: missing, unreadable, too big, not UTF-8, not YAML, past the node or depth
            bound, or not a ``pipelines:`` mapping; one line naming the file.
    """
    import yaml

    path = Path(path) if path is not None else default_config_path()
    text = _read_bounded(path)
    try:
        data = _parse_yaml(text)
    except _Refused as exc:
        where, problem = _yaml_problem(exc)
        raise ConfigError(f"{_show_path(path)}{where}: {problem}") from None
    except yaml.YAMLError as exc:
        where, problem = _yaml_problem(exc, text)
        raise ConfigError(f"{_show_path(path)}{where}: invalid YAML: {problem}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("pipelines"), Mapping) or not data["pipelines"]:
        raise ConfigError(
            f"{_show_path(path)}: expected a top-level 'pipelines:' mapping of names to pipeline definitions"
        )
    unknown = sorted((str(key) for key in data if key != "pipelines"), key=str)
    if unknown:
        raise ConfigError(
            f"{_show_path(path)}: unknown top-level key(s) {_listing(unknown)}; only 'pipelines' is allowed"
        )
    return path, {str(k): v for k, v in data["pipelines"].items()}


# -- --set overrides ---------------------------------------------------------------------------

_STAGE_KEY = re.compile(
    r"^(?:(?P<pos>[0-9]{1,9})|(?P<name>[A-Za-z_][\w-]*)(?:\[(?P<nth>[0-9]{1,9})\])?)\.(?P<param>[A-Za-z_]\w*)$"
)
_TOP_KEYS = {"device", "seed", "description"}


def _check_shape(raw: Any, where: str) -> None:
    """Refuse a definition that overrides cannot apply to without reshaping it: the pipeline must be
    a mapping, ``stages`` a list and ``output`` a mapping (as validation without ``--set`` requires),
    so a malformed file is never silently normalised."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with 'stages:' (and optional output, device, seed)")
    if "stages" in raw and not isinstance(raw["stages"], list):
        raise ConfigError(f"{where}: 'stages' must be a list of stages (- name), got {_kind(raw['stages'])}")
    if "output" in raw and not isinstance(raw["output"], Mapping):
        raise ConfigError(
            f"{where}: 'output' must be a mapping of settings, e.g. {{format: png}}, got {_kind(raw['output'])}"
        )


def _kind(value: Any) -> str:
    """``a mapping``, ``a string 'png'``...: what a misplaced YAML value is, for messages."""
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, str):
        return f"a string {quote(value)}"
    return "nothing" if value is None else f"{type(value).__name__} {quote(value)}"


def _stage_entries(raw: Mapping[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        return [_split_stage_entry(entry, i) for i, entry in enumerate(raw.get("stages") or [], start=1)]
    except ConfigError as exc:
        raise ConfigError(f"{where}, {exc}") from None


def apply_overrides(raw: Mapping[str, Any], overrides: Iterable[str], *, where: str) -> dict[str, Any]:
    """Apply ``KEY=VALUE`` overrides to a raw pipeline definition (before validation).

    Keys: ``device``, ``seed``, ``output.FIELD`` (``output.FIELD.SUB`` for a nested one:
    ``output.content_credentials.certificate``), ``STAGE.PARAM`` (the stage named once in the
    pipeline), ``STAGE[K].PARAM`` (its K-th occurrence) or ``N.PARAM`` (the stage at position N).
    Values are parsed as YAML scalars/lists (``4096``, ``true``, ``[4096, 4096]``) within the same
    bounds as a pipelines file; text that is not YAML is taken as a string.

    Raises:
        ConfigError: a malformed definition (not a mapping, ``stages`` not a list, ``output`` not a
            mapping, a bad stage entry) or override, or a value past the bounds; the message starts
            with ``where``.
    """
    _check_shape(raw, where)
    pipeline = dict(raw)
    stages = _stage_entries(pipeline, where)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        said = f"{where}: --set {quote(item)}"
        if not sep or not key:
            raise ConfigError(f"{said}: expected KEY=VALUE, e.g. --set resize.long_side=2048")
        value = _override_value(text, said)
        if key in _TOP_KEYS:
            pipeline[key] = value
            continue
        if key.startswith("output."):  # output.FIELD, or output.FIELD.SUBFIELD (content_credentials.certificate)
            pipeline["output"] = _set_nested(pipeline.get("output") or {}, key.split(".")[1:], value)
            continue
        match = _STAGE_KEY.match(key)
        if not match:
            raise ConfigError(
                f"{said}: unknown key {quote(key, 40)}; use device, seed, output.FIELD, STAGE.PARAM, "
                "STAGE[K].PARAM or N.PARAM"
            )
        index = _find_stage(stages, match, said)
        stages[index][1][match["param"]] = value
    if "stages" in pipeline:  # a missing list stays missing, for validation to name
        pipeline["stages"] = [{name: params} for name, params in stages]
    return pipeline


def _set_nested(mapping: Mapping[str, Any], keys: Sequence[str], value: Any) -> dict[str, Any]:
    """A copy of ``mapping`` with ``value`` at the path ``keys`` (missing levels become mappings)."""
    head, *rest = keys
    out = dict(mapping)
    if rest:
        inner = out.get(head)
        out[head] = _set_nested(inner if isinstance(inner, Mapping) else {}, rest, value)
    else:
        out[head] = value
    return out


def _override_value(text: str, said: str) -> Any:
    """The value of one ``--set``: YAML within the file's bounds, else the text itself."""
    import yaml

    if not text.strip():
        return ""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{said}: the value is over {MAX_CONFIG_BYTES} bytes (1 MiB), the limit for a setting")
    try:
        return _parse_yaml(text)
    except _Refused as exc:
        raise ConfigError(f"{said}: {_yaml_problem(exc)[1].replace('the document', 'the value')}") from None
    except yaml.YAMLError:
        return text  # not YAML: a plain string, e.g. --set description=a: b


def _find_stage(stages: Sequence[tuple[str, dict[str, Any]]], match: re.Match[str], said: str) -> int:
    names = [name for name, _ in stages]
    if match["pos"]:
        pos = int(match["pos"])
        if not 1 <= pos <= len(stages):
            raise ConfigError(f"{said}: the pipeline has stages 1..{len(stages)}, not {pos}")
        return pos - 1
    name = match["name"]
    positions = [i for i, n in enumerate(names) if n == name]
    if not positions:
        raise ConfigError(f"{said}: the pipeline has no stage {quote(name, 40)}; its stages are {_listing(names)}")
    if match["nth"]:
        nth = int(match["nth"])
        if not 1 <= nth <= len(positions):
            raise ConfigError(f"{said}: the pipeline has {len(positions)} {quote(name, 40)} stage(s), not {nth}")
        return positions[nth - 1]
    if len(positions) > 1:
        options = ", ".join(f"{name}[{k}] (stage {p + 1})" for k, p in enumerate(positions[:8], start=1))
        more = f" and {len(positions) - 8} more" if len(positions) > 8 else ""
        raise ConfigError(f"{said}: the pipeline has several {quote(name, 40)} stages; say which: {options}{more}")
    return positions[0]


# -- validation --------------------------------------------------------------------------------


def _split_stage_entry(entry: Any, position: int) -> tuple[str, dict[str, Any]]:
    """``name`` or ``{name: {params}}`` → (name, params); raises ConfigError (without location)."""
    if isinstance(entry, str) and entry:
        return entry, {}
    if isinstance(entry, Mapping) and len(entry) == 1:
        ((name, params),) = entry.items()
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise ConfigError(f"stage {position} ({_name(name)}): parameters must be a mapping, got {_kind(params)}")
        return str(name), dict(params)
    raise ConfigError(
        f"stage {position}: expected a stage name or a one-key mapping 'name: {{param: value}}', got {_kind(entry)}"
    )


def _describe_errors(exc: ValidationError, model: type[BaseModel], most: int = 3) -> str:
    """Turn pydantic errors into one readable clause per problem (the first ``most``), naming what
    is allowed; values and unknown names are quoted briefly."""
    allowed = ", ".join(model.model_fields) or "(none)"
    errors = exc.errors(include_url=False)
    parts = []
    for error in errors[:most]:
        loc = ".".join(_name(p) for p in error["loc"])
        kind = error["type"]
        message = shorten(printable(error["msg"]), 160)
        if kind == "extra_forbidden":
            parts.append(f"unknown parameter '{loc}'; allowed: {allowed}")
        elif kind == "invalid_key":
            parts.append(f"parameter name {quote(error.get('input'), 40)} is not text; allowed: {allowed}")
        elif kind == "missing":
            parts.append(f"missing parameter '{loc}'")
        elif loc:
            parts.append(f"{loc}={quote(error.get('input'))} is invalid: {message}")
        else:
            parts.append(message.removeprefix("Value error, "))
    if len(errors) > most:
        parts.append(f"and {len(errors) - most} more problem(s)")
    return "; ".join(parts)


def _validate_pipeline(name: str, raw: Any, source: Path | None) -> PipelineSpec:
    from .stages.registry import get_stage

    where = _where(source, name)
    _check_shape(raw, where)
    try:
        fields = _PipelineFields.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_describe_errors(exc, _PipelineFields)}") from None
    stages = []
    for position, entry in enumerate(fields.stages, start=1):
        try:
            stage_name, params = _split_stage_entry(entry, position)
        except ConfigError as exc:
            raise ConfigError(f"{where}, {exc}") from None
        at = f"{where}, stage {position} ({_name(stage_name)})"
        try:
            stage_cls = get_stage(stage_name)
        except StageUnavailableError as exc:
            raise StageUnavailableError(f"{at}: {exc}") from None
        except ConfigError as exc:
            raise ConfigError(f"{at}: {exc}") from None
        try:
            validated = stage_cls.Params.model_validate(params)
        except ValidationError as exc:
            raise ConfigError(f"{at}: {_describe_errors(exc, stage_cls.Params)}") from None
        stages.append(StageSpec(stage_name, position, validated))
    return PipelineSpec(
        name=name,
        source=source,
        description=fields.description,
        device=fields.device,
        seed=fields.seed,
        output=fields.output,
        stages=tuple(stages),
    )


def load_pipeline_spec(
    path: Path | str | None = None,
    name: str = DEFAULT_PIPELINE,
    *,
    overrides: Iterable[str] = (),
) -> PipelineSpec:
    """Read, override and validate one named pipeline (the others in the file are not checked)."""
    source, pipelines = read_config(path)
    if name not in pipelines:
        raise no_such_pipeline(source, name, pipelines)
    raw = pipelines[name]
    overrides = list(overrides)
    if overrides:
        raw = apply_overrides(raw, overrides, where=_where(source, name))
    return _validate_pipeline(name, raw, source)


def no_such_pipeline(source: Path | None, name: str, defined: Iterable[str]) -> ConfigError:
    """The error for a pipeline name the file does not define (names quoted briefly, the list cut)."""
    prefix = f"{_show_path(source)}: " if source else ""
    return ConfigError(f"{prefix}no pipeline named {quote(name, 40)}; defined: {_listing(defined)}")


def _where(source: Path | None, name: str) -> str:
    """``FILE: pipeline 'NAME'``, the start of every message about one pipeline."""
    return f"{_show_path(source)}: pipeline {quote(name, 40)}" if source else f"pipeline {quote(name, 40)}"


def load_pipelines(path: Path | str | None = None) -> dict[str, PipelineSpec | ConfigError]:
    """Validate every pipeline in a file: name → spec, or the error that pipeline has."""
    source, pipelines = read_config(path)
    result: dict[str, PipelineSpec | ConfigError] = {}
    for name, raw in pipelines.items():
        try:
            result[name] = _validate_pipeline(name, raw, source)
        except ConfigError as exc:
            result[name] = exc
    return result
