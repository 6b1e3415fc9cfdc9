"""The input contract: numpy arrays, PIL images, tensors and paths to an :class:`~enhance.image.Image`,
and back to the kind the caller gave.

Stages and pipelines are callable on what users hold; :func:`coerce` turns it into an Image (reading
a path with the codecs) and :func:`restore_kind` hands the result back in the same form. It sits
above both :mod:`enhance.image` and :mod:`enhance.io`, so neither imports the other's way up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .image import Image, Raster, from_image, to_image
from .io import pil_from_raster, raster_from_pil, read

if TYPE_CHECKING:
    import torch

__all__ = ["coerce", "restore_kind"]


def coerce(value: Any, device: torch.device | str | None = None) -> tuple[Image, str]:
    """Turn an Image, numpy array (HWC uint8/uint16/float), PIL image, tensor or path into an Image.

    Returns the image and a *kind* tag that :func:`restore_kind` uses to hand back the same type.
    Tensors are ``[C,H,W]`` or ``[H,W]`` floats in [0,1] (or uint8); numpy arrays are ``HxW`` or
    ``HxWxC``; float arrays are taken as [0,1].
    """
    import numpy as np
    import torch

    if isinstance(value, Image):
        return (value.to(device) if device is not None else value), "image"
    if isinstance(value, (str, Path)):
        return read(value, device=device or "cpu"), "image"
    if isinstance(value, np.ndarray):
        array = value if value.ndim == 3 else value[:, :, None]
        if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
            raise ValueError(f"numpy image must be HxW or HxWxC with C in 1..4, got shape {value.shape}")
        kind = f"numpy:{value.dtype.str}:{value.ndim}"
        if array.dtype not in (np.uint8, np.uint16) and array.dtype.kind != "f":
            raise ValueError(f"numpy image dtype must be uint8, uint16 or float, got {array.dtype}")
        return to_image(Raster(array.astype(np.float32) if array.dtype.kind == "f" else array), device or "cpu"), kind
    if isinstance(value, torch.Tensor):
        tensor = value if value.ndim == 3 else value.unsqueeze(0)
        if tensor.ndim != 3 or tensor.shape[0] not in (1, 2, 3, 4):
            raise ValueError(f"tensor image must be [C,H,W] or [H,W] with C in 1..4, got {tuple(value.shape)}")
        kind = f"tensor:{value.dtype}:{value.ndim}"
        tensor = tensor.to(device) if device is not None else tensor
        if tensor.dtype == torch.uint8:
            tensor = tensor.float() / 255.0
        return Image.from_planes(tensor.float()), kind
    try:
        import PIL.Image
    except ImportError:  # pragma: no cover - pillow is a core dependency
        PIL = None  # type: ignore[assignment]
    if PIL is not None and isinstance(value, PIL.Image.Image):
        return to_image(raster_from_pil(value), device or "cpu"), f"pil:{value.mode}"
    raise TypeError(
        f"cannot use {type(value).__name__} as an image: pass an enhance.Image, a numpy array, "
        "a PIL image, a torch tensor or a path"
    )


def restore_kind(image: Image, kind: str) -> Any:
    """Hand back ``image`` as the type :func:`coerce` received (numpy keeps its dtype and rank)."""
    import numpy as np

    if kind == "image":
        return image
    if kind.startswith("numpy:"):
        _, dtype_str, ndim = kind.split(":")
        dtype = np.dtype(dtype_str)
        if dtype.kind == "f":
            array = image.rgba().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(dtype)
        else:
            # dithered, so that a smooth result (e.g. a debanded sky) is not banded again
            array = from_image(image, bit_depth=16 if dtype == np.uint16 else 8, dither=True).array
        return array[:, :, 0] if ndim == "2" and array.shape[2] == 1 else array
    if kind.startswith("tensor:"):
        import torch

        _, dtype_str, ndim = kind.split(":")
        planes = image.rgba()
        if dtype_str == str(torch.uint8):
            planes = (planes.clamp(0, 1) * 255).round().to(torch.uint8)
        return planes[0] if ndim == "2" and planes.shape[0] == 1 else planes
    if kind.startswith("pil:"):
        return pil_from_raster(from_image(image, bit_depth=8, dither=True))
    raise ValueError(f"unknown image kind {kind!r}")
