"""Safe model loading through spandrel: weights only, never arbitrary unpickling.

``.safetensors`` files are read with safetensors; ``.pth``/``.pt``/``.ckpt`` with
``torch.load(weights_only=True)``, whose restricted unpickler rebuilds tensors and plain
containers and refuses every other global. A checkpoint that carries a pickled object (code that
would run on load) is refused with a :class:`~enhance.errors.ConfigError` before anything in it
runs. TorchScript archives are refused too: they contain code. The state dict then goes to
``spandrel``, which detects the architecture (ESRGAN/RRDBNet, SRVGGNetCompact, SwinIR, HAT, ...).

Loaded models are cached per (file, device, dtype, memory format, interpolation) so that a batch,
and every stage instance that names the same model, loads it once.
"""

from __future__ import annotations

import pickle
import re
import threading
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
    "clear_cache",
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


_cache: dict[tuple[Any, ...], ImageModelDescriptor] = {}
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
        return descriptor


def clear_cache() -> None:
    """Forget every loaded model (frees their memory once nothing else holds them)."""
    with _lock:
        _cache.clear()
