"""Safe model loading through spandrel: weights only, never arbitrary unpickling.

``.safetensors`` files are read with safetensors; ``.pth``/``.pt``/``.ckpt`` with
``torch.load(weights_only=True)``, whose restricted unpickler rebuilds tensors and plain
containers and refuses every other global. A checkpoint that carries a pickled object (code that
would run on load) is refused with a :class:`~enhance.errors.ConfigError` before anything in it
runs. TorchScript archives are refused too: they contain code. The state dict then goes to
``spandrel``, which detects the architecture (ESRGAN/RRDBNet, SRVGGNetCompact, SwinIR, HAT, ...).

Loaded models are cached per (file, device, dtype, memory format, interpolation) so that a batch,
and every stage instance that names the same model, loads it once. The cache keeps the most recently
used :func:`set_cache_size` entries (8 by default: an upscale stage on CUDA holds two or three, its
CPU copy, its half-precision copy and, after an overflow, an fp32 one); :func:`clear_cache` empties it.

A model the caller already holds (a spandrel descriptor, e.g. ComfyUI's UPSCALE_MODEL, or a bare
``torch.nn.Module``) goes through :func:`as_descriptor`; it is never cached here (it is the caller's).
"""

from __future__ import annotations

import pickle
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, first_line

if TYPE_CHECKING:
    import torch
    from spandrel import ImageModelDescriptor

__all__ = [
    "ModelInfo",
    "read_state_dict",
    "descriptor_from_state_dict",
    "describe",
    "inspect_file",
    "interpolate_state_dicts",
    "load_model",
    "as_descriptor",
    "clear_cache",
    "set_cache_size",
    "DEFAULT_CACHE_SIZE",
]

_SAFE_SUFFIXES = (".pth", ".pt", ".ckpt")


@dataclass(frozen=True)
class ModelInfo:
    """What spandrel detects in a model file."""

    path: Path | None
    arch: str
    arch_name: str
    purpose: str
    scale: int
    input_channels: int
    output_channels: int
    supports_half: bool
    supports_bfloat16: bool
    minimum: int
    multiple_of: int
    square: bool
    tiling: str
    tags: tuple[str, ...]
    parameters: int

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs for ``enhance models info``."""
        return [
            ("file", str(self.path) if self.path else "-"),
            ("architecture", f"{self.arch} ({self.arch_name})"),
            ("purpose", self.purpose),
            ("scale", f"x{self.scale}"),
            ("channels", f"{self.input_channels} in, {self.output_channels} out"),
            ("fp16", "yes" if self.supports_half else "no"),
            ("bf16", "yes" if self.supports_bfloat16 else "no"),
            (
                "size requirements",
                f"minimum {self.minimum}, multiple of {self.multiple_of}" + (", square" if self.square else ""),
            ),
            ("tiling", self.tiling),
            ("tags", ", ".join(self.tags) or "-"),
            ("parameters", f"{self.parameters:,}"),
        ]


def read_state_dict(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's tensors without running any code stored in it.

    Raises:
        ConfigError: the file is missing, carries pickled code (refused), is TorchScript, or is
            not a checkpoint at all.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"model file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path), device="cpu"))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ConfigError(f"cannot read model file {path}: not a valid safetensors file ({exc})") from None
        except Exception as exc:  # any other failure on a user's file is still a bad file, not a bug
            raise ConfigError(_unreadable(path, exc)) from None
    if suffix not in _SAFE_SUFFIXES:
        raise ConfigError(f"model file {path} has an unsupported type {suffix!r}: use .pth, .pt, .ckpt or .safetensors")
    _check_expansion(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        foreign = found.group(1) if found else _foreign_global(path)
        if foreign is None:
            raise ConfigError(f"cannot read model file {path}: damaged or not a PyTorch checkpoint") from None
        what = f"it would call {foreign}"
        raise ConfigError(
            f"model file {path} was refused: it carries pickled code, not only weights ({what}), and enhance "
            "never runs code from model files; use a weights-only .pth or a .safetensors file"
        ) from None
    except Exception as exc:
        # the weights-only unpickler fails on junk in many ways (KeyError, EOFError, RuntimeError...):
        # every one means the user's file is not a checkpoint we can read, never a bug of ours
        if "TorchScript" in str(exc) or "constants.pkl" in str(exc):
            raise ConfigError(f"model file {path} is a TorchScript archive (it contains code): refused") from None
        raise ConfigError(_unreadable(path, exc)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"model file {path} holds a {type(data).__name__}, not a state dict of weights")
    return data


#: a checkpoint may unpack to this many times its file size (torch stores tensors uncompressed;
#: weights deflate little), or to this many bytes, whichever is more
_MAX_EXPANSION, _MIN_EXPANSION_BOUND = 8, 256 << 20


def _check_expansion(path: Path) -> None:
    """Refuse, from its zip directory and before anything is decompressed, a checkpoint archive
    whose entries would unpack to more than the memory limit or far more than the file's size
    (a few MB of deflated zeros declaring a 6 GB tensor).

    Raises:
        ConfigError: one line naming the file, the sizes and the bound.
    """
    import zipfile

    from ..devices import format_bytes, memory_limit

    try:
        if not zipfile.is_zipfile(path):
            return  # a legacy pickle: its tensors are its bytes, nothing expands
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(max(info.file_size, 0) for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return  # torch.load says what is wrong with it
    size = path.stat().st_size
    limit = memory_limit()
    bound = min(limit.bytes, max(_MAX_EXPANSION * size, _MIN_EXPANSION_BOUND))
    if unpacked > bound:
        raise ConfigError(
            f"model file {path} was refused: its {format_bytes(size)} would unpack to {format_bytes(unpacked)}, "
            f"over the bound of {format_bytes(bound)} (the memory limit, {limit.source}, or {_MAX_EXPANSION}x the "
            "file); a real checkpoint stores its weights uncompressed: get the file again from its source"
        )


_TENSOR_MODULES = ("torch", "collections", "_codecs", "numpy.core.multiarray", "numpy._core.multiarray")


def _foreign_global(path: Path) -> str | None:
    """The first callable a pickle in ``path`` refers to outside tensor rebuilding, if any.

    Only reads opcodes (``pickletools``), never executes them: used to say *why* a file that the
    weights-only loader refused is unsafe (for pickles whose protocol it cannot even parse).
    """
    import io
    import pickletools
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                name = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
                data = archive.read(name) if name else b""
        else:
            data = path.read_bytes()
    except OSError:
        return None
    stream = io.BytesIO(data)
    strings: list[str] = []
    for _ in range(8):  # legacy torch files are several pickles in a row
        try:
            for op, arg, _pos in pickletools.genops(stream):
                if isinstance(arg, str):
                    strings = [*strings[-1:], arg]
                target = None
                if op.name in ("GLOBAL", "INST") and isinstance(arg, str):
                    target = arg.replace(" ", ".")
                elif op.name == "STACK_GLOBAL" and len(strings) == 2:
                    target = ".".join(strings)
                if target and not target.startswith(_TENSOR_MODULES):
                    return target
        except (ValueError, EOFError):
            return None
        if stream.tell() >= len(data):
            break
    return None


def _unreadable(path: Path, exc: BaseException) -> str:
    """The one-line message for a model file the loader could not read."""
    return f"cannot read model file {path}: not a readable model checkpoint ({type(exc).__name__}: {first_line(exc)})"


def descriptor_from_state_dict(state_dict: dict[str, Any], source: str = "state dict") -> ImageModelDescriptor:
    """Detect the architecture of ``state_dict`` with spandrel and build the model (on CPU, fp32).

    Raises:
        ConfigError: spandrel does not recognise it, or it is not an image-to-image model.
    """
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError, canonicalize_state_dict

    try:
        descriptor = ModelLoader().load_from_state_dict(canonicalize_state_dict(state_dict))
    except UnsupportedModelError:
        raise ConfigError(
            f"{source}: spandrel does not recognise this model's architecture; supported families include "
            "ESRGAN/Real-ESRGAN, SRVGGNetCompact, SwinIR, HAT, DAT, OmniSR, SPAN"
        ) from None
    except (KeyError, RuntimeError, ValueError, AssertionError) as exc:
        raise ConfigError(f"{source}: looks like a known architecture but its weights do not fit ({exc})") from None
    if not isinstance(descriptor, ImageModelDescriptor):
        raise ConfigError(f"{source}: is a {descriptor.purpose} model, not an image-to-image model")
    return descriptor


def describe(descriptor: ImageModelDescriptor, path: Path | None = None) -> ModelInfo:
    """The :class:`ModelInfo` of a loaded spandrel descriptor."""
    req = descriptor.size_requirements
    return ModelInfo(
        path=path,
        arch=str(descriptor.architecture.id),
        arch_name=descriptor.architecture.name,
        purpose=descriptor.purpose,
        scale=descriptor.scale,
        input_channels=descriptor.input_channels,
        output_channels=descriptor.output_channels,
        supports_half=descriptor.supports_half,
        supports_bfloat16=descriptor.supports_bfloat16,
        minimum=req.minimum,
        multiple_of=req.multiple_of,
        square=req.square,
        tiling=descriptor.tiling.name.lower(),
        tags=tuple(descriptor.tags),
        parameters=sum(p.numel() for p in descriptor.model.parameters()),
    )


def inspect_file(path: str | Path) -> ModelInfo:
    """Load ``path`` safely and report what spandrel detects in it."""
    path = Path(path)
    return describe(descriptor_from_state_dict(read_state_dict(path), str(path)), path)


def interpolate_state_dicts(a: dict[str, Any], b: dict[str, Any], weight: float) -> dict[str, Any]:
    """``weight * a + (1 - weight) * b`` tensor by tensor: upstream's deep network interpolation.

    Both are canonicalised first (``params``/``params_ema`` unwrapped).

    Raises:
        ConfigError: the two do not have the same tensors.
    """
    from spandrel import canonicalize_state_dict

    a, b = canonicalize_state_dict(a), canonicalize_state_dict(b)
    if a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise ConfigError("cannot interpolate two models with different architectures")
    return {k: (weight * v + (1.0 - weight) * b[k]) if v.is_floating_point() else v for k, v in a.items()}


#: how many loaded models the cache keeps by default
DEFAULT_CACHE_SIZE = 8

_cache: OrderedDict[tuple[Any, ...], ImageModelDescriptor] = OrderedDict()
_cache_size: int | None = DEFAULT_CACHE_SIZE
_lock = threading.Lock()


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def load_model(
    path: str | Path,
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    channels_last: bool = False,
    interpolate_with: tuple[str | Path, float] | None = None,
) -> ImageModelDescriptor:
    """A spandrel model from ``path`` on ``device`` in ``dtype``, in eval mode, loaded once.

    Args:
        interpolate_with: ``(other_path, weight)``: use ``weight * path + (1 - weight) * other``
            (how ``denoise_strength`` mixes realesr-general-x4v3 with its -wdn- twin).

    Raises:
        ConfigError: the file is refused or unsupported, or the model cannot run in ``dtype``.
    """
    import torch
    from spandrel import UnsupportedDtypeError

    path = Path(path)
    device = torch.device(device)
    dtype = dtype or torch.float32
    other = None if interpolate_with is None else (Path(interpolate_with[0]), float(interpolate_with[1]))
    key = (
        _file_key(path),
        None if other is None else (_file_key(other[0]), other[1]),
        str(device),
        dtype,
        channels_last,
    )
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
        state = read_state_dict(path)
        if other is not None:
            state = interpolate_state_dicts(state, read_state_dict(other[0]), other[1])
        descriptor = descriptor_from_state_dict(state, str(path))
        try:
            descriptor.to(device).to(dtype)
        except UnsupportedDtypeError:
            name = str(dtype).removeprefix("torch.")
            raise ConfigError(f"model {path.name} cannot run in {name}: use precision fp32") from None
        descriptor.eval()
        descriptor.model.requires_grad_(False)
        if channels_last:
            descriptor.model.to(memory_format=torch.channels_last)
        _cache[key] = descriptor
        _trim()
        return descriptor


def _trim() -> None:
    """Drop the least recently used models beyond the cache size (with the lock held)."""
    while _cache_size is not None and len(_cache) > _cache_size:
        _cache.popitem(last=False)


def _release() -> None:
    """Hand the memory of dropped models back (CUDA's cached blocks too, once torch is in use)."""
    import sys

    from ..devices import release_memory

    torch = sys.modules.get("torch")
    cuda = torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized()
    release_memory("cuda" if cuda else "cpu")


def clear_cache() -> None:
    """Forget every loaded model and free their memory (once nothing else holds them: a stage
    that loaded one keeps using it until it is set up again)."""
    with _lock:
        _cache.clear()
    _release()


def set_cache_size(size: int | None) -> int | None:
    """Keep at most ``size`` loaded models (the least recently used go first; None: no limit;
    0: cache nothing). Returns the previous size.

    Raises:
        ValueError: a negative size.
    """
    global _cache_size
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError(f"cache size must be a whole number >= 0 or None, got {size!r}")
    with _lock:
        previous, _cache_size = _cache_size, size
        before = len(_cache)
        _trim()
        dropped = len(_cache) < before
    if dropped:
        _release()
    return previous


def _caller_architecture(name: str) -> Any:
    """A spandrel architecture standing for a caller's module that spandrel does not recognise
    (it never detects or loads anything: the module is already built)."""
    from spandrel import Architecture

    class CallerModule(Architecture):  # type: ignore[type-arg]
        def load(self, state_dict: Any) -> Any:  # pragma: no cover - never called
            raise NotImplementedError("a caller's module is already loaded")

    return CallerModule(id=name, name=name, detect=lambda _state: False)


def as_descriptor(model: Any, *, scale: int | None = None) -> ImageModelDescriptor:
    """A spandrel ``ImageModelDescriptor`` for a model the caller holds.

    * a descriptor (e.g. ComfyUI's UPSCALE_MODEL) is returned as it is;
    * a ``torch.nn.Module`` whose weights spandrel recognises (any architecture it knows) is
      described by spandrel (scale, channels, size requirements, fp16/bf16 support) and wrapped
      as it is: the caller's module, not a copy, runs;
    * any other module needs ``scale`` (its upscale factor); it is taken as RGB in and out,
      fp32-only, with no size requirements, unless its first convolution says otherwise.

    Nothing is moved or changed: the upscale stage copies a model it must move to another device
    or dtype, and leaves the caller's alone.

    Raises:
        ConfigError: not a model, a non-image spandrel model, or an unknown module without ``scale``.
    """
    import torch
    from spandrel import (
        ImageModelDescriptor,
        MaskedImageModelDescriptor,
        ModelLoader,
        SizeRequirements,
        UnsupportedModelError,
    )

    if isinstance(model, ImageModelDescriptor):
        return model
    if isinstance(model, MaskedImageModelDescriptor):
        raise ConfigError(f"the model given is a {model.purpose} model, not an image-to-image model")
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"cannot use a {type(model).__name__} as a model: give a zoo name, a path, a spandrel "
            "ImageModelDescriptor or a torch.nn.Module"
        )
    label = type(model).__name__
    try:
        detected = ModelLoader().load_from_state_dict(model.state_dict())
    except (UnsupportedModelError, KeyError, RuntimeError, ValueError, AssertionError):
        detected = None
    if isinstance(detected, ImageModelDescriptor):
        if scale is not None and scale != detected.scale:
            raise ConfigError(
                f"the {label} given is {detected.architecture.name} x{detected.scale} by its weights, not x{scale}: "
                "leave model_scale out"
            )
        same_class = type(detected.model) is type(model)
        return ImageModelDescriptor(
            model,
            model.state_dict(),
            architecture=detected.architecture,
            purpose=detected.purpose,
            tags=list(detected.tags),
            supports_half=detected.supports_half,
            supports_bfloat16=detected.supports_bfloat16,
            scale=detected.scale,
            input_channels=detected.input_channels,
            output_channels=detected.output_channels,
            size_requirements=detected.size_requirements,
            tiling=detected.tiling,
            call_fn=detected._call_fn if same_class else None,  # its own call for spandrel's own class
        )
    if scale is None:
        raise ConfigError(
            f"the {label} given is not an architecture spandrel recognises: pass its upscale factor "
            "(Upscale(model=..., model_scale=N))"
        )
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"model_scale must be a whole number >= 1, got {scale!r}")
    first = next((m for m in model.modules() if isinstance(m, torch.nn.Conv2d)), None)
    channels = first.in_channels if first is not None and first.in_channels in (1, 3) else 3
    return ImageModelDescriptor(
        model,
        model.state_dict(),
        architecture=_caller_architecture(label),
        purpose="SR" if scale > 1 else "Restoration",
        tags=["caller"],
        supports_half=False,
        supports_bfloat16=False,
        scale=scale,
        input_channels=channels,
        output_channels=channels,
        size_requirements=SizeRequirements(),
    )
