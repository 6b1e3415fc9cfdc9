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
position, parameter and what is allowed. Only ``yaml.safe_load`` is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .credentials.signing import ContentCredentialsSettings
from .errors import ConfigError, StageUnavailableError, first_line

if TYPE_CHECKING:
    from .credentials.signing import ContentSigner

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PIPELINE",
    "OutputSpec",
    "PipelineSpec",
    "StageSpec",
    "apply_overrides",
    "default_config_path",
    "load_pipeline_spec",
    "load_pipelines",
    "read_config",
]

CONFIG_ENV = "ENHANCE_CONFIG"
DEFAULT_PIPELINE = "restore-4k"


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
            raise ValueError(f"suffix {self.suffix!r} must not contain a path separator")
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
        return {"format": fmt if self.format == "same" else self.format, "quality": quality, "lossless": self.lossless}

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
    seed: int = Field(0, ge=0)
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


def read_config(path: Path | str | None = None) -> tuple[Path, dict[str, Any]]:
    """Read a pipelines file safely; returns its path and the ``pipelines`` mapping (unvalidated)."""
    import yaml

    path = Path(path) if path is not None else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: pipelines file not found; check the --config path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read pipelines file ({exc})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("pipelines"), Mapping) or not data["pipelines"]:
        raise ConfigError(f"{path}: expected a top-level 'pipelines:' mapping of names to pipeline definitions")
    unknown = sorted(set(data) - {"pipelines"})
    if unknown:
        keys = ", ".join(map(repr, unknown))
        raise ConfigError(f"{path}: unknown top-level key(s) {keys}; only 'pipelines' is allowed")
    return path, {str(k): v for k, v in data["pipelines"].items()}


# -- --set overrides ---------------------------------------------------------------------------

_STAGE_KEY = re.compile(r"^(?:(?P<pos>\d+)|(?P<name>[A-Za-z_][\w-]*)(?:\[(?P<nth>\d+)\])?)\.(?P<param>[A-Za-z_]\w*)$")
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
        return f"a string {value!r}"
    return "nothing" if value is None else f"{type(value).__name__} {value!r}"


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
    Values are parsed as YAML scalars/lists (``4096``, ``true``, ``[4096, 4096]``).

    Raises:
        ConfigError: a malformed definition (not a mapping, ``stages`` not a list, ``output`` not a
            mapping, a bad stage entry) or override; the message starts with ``where``.
    """
    import yaml

    _check_shape(raw, where)
    pipeline = dict(raw)
    stages = _stage_entries(pipeline, where)
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{where}: --set {item!r}: expected KEY=VALUE, e.g. --set resize.long_side=2048")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError:
            value = text
        if key in _TOP_KEYS:
            pipeline[key] = value
            continue
        if key.startswith("output."):  # output.FIELD, or output.FIELD.SUBFIELD (content_credentials.certificate)
            pipeline["output"] = _set_nested(pipeline.get("output") or {}, key.split(".")[1:], value)
            continue
        match = _STAGE_KEY.match(key)
        if not match:
            raise ConfigError(
                f"{where}: --set {item!r}: unknown key {key!r}; use device, seed, output.FIELD, STAGE.PARAM, "
                "STAGE[K].PARAM or N.PARAM"
            )
        index = _find_stage(stages, match, item, where)
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


def _find_stage(stages: Sequence[tuple[str, dict[str, Any]]], match: re.Match[str], item: str, where: str) -> int:
    names = [name for name, _ in stages]
    if match["pos"]:
        pos = int(match["pos"])
        if not 1 <= pos <= len(stages):
            raise ConfigError(f"{where}: --set {item!r}: the pipeline has stages 1..{len(stages)}, not {pos}")
        return pos - 1
    name = match["name"]
    positions = [i for i, n in enumerate(names) if n == name]
    if not positions:
        raise ConfigError(
            f"{where}: --set {item!r}: the pipeline has no stage '{name}'; its stages are {', '.join(names)}"
        )
    if match["nth"]:
        nth = int(match["nth"])
        if not 1 <= nth <= len(positions):
            raise ConfigError(
                f"{where}: --set {item!r}: the pipeline has {len(positions)} '{name}' stage(s), not {nth}"
            )
        return positions[nth - 1]
    if len(positions) > 1:
        options = ", ".join(f"{name}[{k}] (stage {p + 1})" for k, p in enumerate(positions, start=1))
        raise ConfigError(f"{where}: --set {item!r}: the pipeline has several '{name}' stages; say which: {options}")
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
            raise ConfigError(f"stage {position} ({name}): parameters must be a mapping, got {params!r}")
        return str(name), dict(params)
    raise ConfigError(
        f"stage {position}: expected a stage name or a one-key mapping 'name: {{param: value}}', got {entry!r}"
    )


def _describe_errors(exc: ValidationError, model: type[BaseModel]) -> str:
    """Turn pydantic errors into one readable clause per problem, naming what is allowed."""
    allowed = ", ".join(model.model_fields) or "(none)"
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            parts.append(f"unknown parameter '{loc}'; allowed: {allowed}")
        elif kind == "missing":
            parts.append(f"missing parameter '{loc}'")
        elif loc:
            parts.append(f"{loc}={error.get('input')!r} is invalid: {error['msg']}")
        else:
            parts.append(error["msg"].removeprefix("Value error, "))
    return "; ".join(parts)


def _validate_pipeline(name: str, raw: Any, source: Path | None) -> PipelineSpec:
    from .stages.registry import get_stage

    where = f"{source}: pipeline '{name}'" if source else f"pipeline '{name}'"
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
        at = f"{where}, stage {position} ({stage_name})"
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
        raise ConfigError(f"{source}: no pipeline named '{name}'; defined: {', '.join(pipelines)}")
    raw = pipelines[name]
    overrides = list(overrides)
    if overrides:
        raw = apply_overrides(raw, overrides, where=f"{source}: pipeline '{name}'")
    return _validate_pipeline(name, raw, source)


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
