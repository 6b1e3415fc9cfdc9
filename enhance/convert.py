"""The input contract: numpy arrays, PIL images, tensors and paths to :class:`~enhance.image.Image`\\ s,
and back to the kind, layout, dtype and device the caller gave.

Stages, pipelines and the image ops are callable on what users hold. :func:`to_images` turns it into
Images (reading a path with the codecs) and :func:`from_images` hands the results back in the same
form; :func:`coerce` and :func:`restore_kind` do the same for one image. It sits above both
:mod:`enhance.image` and :mod:`enhance.io`, so neither imports the other's way up.

What is accepted (every check is here, and every refusal is one :class:`~enhance.errors.ImageFormatError`
naming the shape and dtype received and the shapes accepted):

* **numpy**: ``HxW``, ``HxWxC`` or a batch ``BxHxWxC``; uint8, uint16, or float16/32/64 in [0, 1].
  numpy images are channels-last (numpy's, OpenCV's and PIL's convention); a channels-first array
  needs ``layout="CHW"`` (or ``"BCHW"``).
* **torch**: ``[C,H,W]``, ``[H,W]``, a batch ``[B,C,H,W]``, or channels-last ``[H,W,C]`` /
  ``[B,H,W,C]`` (ComfyUI's IMAGE); uint8, uint16, or float16/bfloat16/float32/float64 in [0, 1]; on
  any device. The layout is read from the shape when only one reading fits: channels-first when the
  channel axis (dim 0 of three, dim 1 of four) is 1-4 and the last axis is not, channels-last when the
  reverse. When both fit (an image at most four pixels high or wide, e.g. ``[1,3,64,3]``) or neither
  does, pass ``layout=`` (``"CHW"``, ``"HWC"``, ``"BCHW"``, ``"BHWC"``, ``"HW"``); a wrong guess
  would silently swap rows for channels, so none is made.
* **PIL** images (any mode Pillow converts), :class:`~enhance.image.Image`, and paths (read with
  :func:`enhance.io.read`, returned as an Image).
* C is 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA). ``channel_order="bgr"`` takes 3/4-channel
  input as BGR(A), OpenCV's and chaiNNer's order, and hands results back in the same order.

The result comes back as the caller's kind: same container, layout, dtype (float64 in, float64 out;
fp16 in, fp16 out; uint8 in, uint8 out) and device (a CPU tensor comes back on the CPU even when the
work ran on CUDA). A batch comes back stacked, so its images must come out the same size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .errors import ImageFormatError
from .image import Image, Metadata, Raster, from_image, to_image
from .io import pil_from_raster, raster_from_pil, read

if TYPE_CHECKING:
    from collections.abc import Sequence

    import torch

__all__ = [
    "ACCEPTED",
    "LAYOUTS",
    "ImageKind",
    "Layout",
    "channels_first",
    "check_planes",
    "coerce",
    "from_images",
    "restore_kind",
    "restore_layout",
    "to_images",
]

Layout = Literal["HW", "CHW", "HWC", "BCHW", "BHWC"]
#: every layout name ``layout=`` takes
LAYOUTS: tuple[str, ...] = ("HW", "CHW", "HWC", "BCHW", "BHWC")
#: what is accepted, for error messages
ACCEPTED = (
    "numpy HxW, HxWxC or BxHxWxC (uint8, uint16, float16/32/64 in [0,1]); torch [C,H,W], [H,W], [B,C,H,W] or "
    "channels-last [B,H,W,C]/[H,W,C] (uint8, uint16, float16/bfloat16/float32/float64 in [0,1], any device); "
    "PIL images; paths; C = 1, 2, 3 or 4"
)
_TORCH_DTYPES = ("uint8", "uint16", "float16", "bfloat16", "float32", "float64")
_NUMPY_DTYPES = ("uint8", "uint16", "float16", "float32", "float64")


@dataclass(frozen=True)
class ImageKind:
    """How the caller's image came, so that results go back the same way.

    Attributes:
        container: ``image`` (an enhance Image, or a path, read into one), ``numpy``, ``tensor`` or ``pil``.
        layout: the axes of a numpy array or tensor (see :data:`LAYOUTS`); None otherwise.
        dtype: the numpy or torch dtype given.
        device: the tensor's device.
        channel_order: ``rgb`` or ``bgr``.
        pil_mode: the PIL mode given.
    """

    container: Literal["image", "numpy", "tensor", "pil"]
    layout: str | None = None
    dtype: Any = None
    device: Any = None
    channel_order: str = "rgb"
    pil_mode: str | None = None

    @property
    def is_batch(self) -> bool:
        """Whether the caller gave a batch (``BCHW``/``BHWC``): results come back stacked."""
        return self.layout in ("BCHW", "BHWC")


def _refuse(value: Any, problem: str, accepted: str = ACCEPTED) -> ImageFormatError:
    """The one error for an image enhance cannot take: what was received, what is wrong, what is accepted."""
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None:
        dims = ",".join(str(int(n)) for n in shape)
        what = f"{type(value).__module__.split('.')[0]} {type(value).__name__} of shape [{dims}], dtype {dtype}"
    else:
        what = type(value).__name__
    return ImageFormatError(f"cannot use {what} as an image: {problem}; accepted: {accepted}")


def _check_layout(value: Any, layout: str | None) -> str | None:
    if layout is None:
        return None
    name = str(layout).upper()
    if name not in LAYOUTS:
        raise _refuse(value, f"layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if len(name) != value.ndim:
        raise _refuse(value, f"layout {name} needs {len(name)} dimensions, the input has {value.ndim}")
    return name


def _channels_ok(n: int) -> bool:
    return 1 <= n <= 4


def _infer_layout(value: Any, layout: str | None, *, channels_last_default: bool) -> str:
    """The layout of an array or tensor: given (and checked), or read from its shape (see the module doc)."""
    given = _check_layout(value, layout)
    shape = tuple(int(n) for n in value.shape)
    ndim = len(shape)
    if given is None:
        if ndim == 2:
            given = "HW"
        elif ndim not in (3, 4):
            raise _refuse(value, f"{ndim} dimensions")
        else:
            first, last = _channels_ok(shape[ndim - 3]), _channels_ok(shape[-1])
            cf, cl = ("CHW", "HWC") if ndim == 3 else ("BCHW", "BHWC")
            if channels_last_default:
                if not last and first:
                    raise _refuse(value, f"numpy images are {cl}; for a channels-first array pass layout={cf!r}")
                given = cl
            elif first and last:
                raise _refuse(
                    value, f"both {cf} and {cl} fit this shape: pass layout={cf!r} or layout={cl!r} to say which"
                )
            elif not (first or last):
                raise _refuse(value, f"no axis holds 1 to 4 channels (neither {cf} nor {cl} fits)")
            else:
                given = cf if first else cl
    channels = 1 if given == "HW" else shape[given.index("C")]
    if not _channels_ok(channels):
        raise _refuse(value, f"as {given} it has {channels} channels, not 1 to 4")
    if min(shape[given.index("H")], shape[given.index("W")]) < 1 or ("B" in given and shape[0] < 1):
        raise _refuse(value, "an empty image")
    return given


def _numpy_bhwc(array: Any, layout: str) -> Any:
    if layout == "HW":
        return array[None, :, :, None]
    if layout == "HWC":
        return array[None]
    if layout == "CHW":
        return array.transpose(1, 2, 0)[None]
    if layout == "BCHW":
        return array.transpose(0, 2, 3, 1)
    return array


def _numpy_from_bhwc(stacked: Any, layout: str) -> Any:
    if layout == "HW":
        return stacked[0, :, :, 0] if stacked.shape[3] == 1 else stacked[0]
    if layout == "HWC":
        return stacked[0]
    if layout == "CHW":
        return stacked[0].transpose(2, 0, 1)
    if layout == "BCHW":
        return stacked.transpose(0, 3, 1, 2)
    return stacked


def _to_bchw(x: torch.Tensor, layout: str) -> torch.Tensor:
    """A view of ``x`` as ``[B,C,H,W]`` (no copy)."""
    if layout == "HW":
        return x[None, None]
    if layout == "CHW":
        return x[None]
    if layout == "HWC":
        return x.permute(2, 0, 1)[None]
    if layout == "BHWC":
        return x.permute(0, 3, 1, 2)
    return x


def _from_bchw(x: torch.Tensor, layout: str) -> torch.Tensor:
    """``[B,C,H,W]`` back to ``layout`` (a gray HW keeps one channel only)."""
    if layout == "HW":
        return x[0, 0] if x.shape[1] == 1 else x[0]
    if layout == "CHW":
        return x[0]
    if layout == "HWC":
        return x[0].permute(1, 2, 0)
    if layout == "BHWC":
        return x.permute(0, 2, 3, 1)
    return x


def _swap_rb(planes: torch.Tensor, dim: int) -> torch.Tensor:
    """RGB(A) <-> BGR(A) along ``dim`` (a no-op for gray)."""
    n = planes.shape[dim]
    if n < 3:
        return planes
    import torch

    order = [2, 1, 0, *range(3, n)]
    return planes.index_select(dim, torch.tensor(order, device=planes.device))


def _channel_order(value: Any, channel_order: str) -> str:
    order = str(channel_order).lower()
    if order not in ("rgb", "bgr"):
        raise _refuse(value, f"channel_order {channel_order!r} is not 'rgb' or 'bgr'")
    return order


def to_images(
    value: Any,
    device: torch.device | str | None = None,
    *,
    layout: Layout | str | None = None,
    channel_order: Literal["rgb", "bgr"] | str = "rgb",
) -> tuple[list[Image], ImageKind]:
    """Turn what a caller holds into Images on ``device`` (default: the CPU, or a tensor's own device).

    Returns one Image per image (a batch gives several) and the :class:`ImageKind` that
    :func:`from_images` needs to hand results back alike.

    Raises:
        ImageFormatError: a shape, dtype, layout or channel count outside the contract (see the
            module doc); the message names what was received and what is accepted.
    """
    import numpy as np
    import torch

    if isinstance(value, Image):
        return [value.to(device) if device is not None else value], ImageKind("image")
    if isinstance(value, (str, Path)):
        return [read(value, device=device or "cpu")], ImageKind("image")
    if isinstance(value, np.ndarray):
        order = _channel_order(value, channel_order)
        if value.dtype.name not in _NUMPY_DTYPES:
            raise _refuse(value, f"dtype {value.dtype} is not one of {', '.join(_NUMPY_DTYPES)}")
        found = _infer_layout(value, layout, channels_last_default=True)
        kind = ImageKind("numpy", found, value.dtype, None, order)
        images = []
        for array in _numpy_bhwc(value, found):
            if order == "bgr":
                array = array[:, :, [2, 1, 0, *range(3, array.shape[2])]] if array.shape[2] >= 3 else array
            if array.dtype.kind == "f":
                array = array.astype(np.float32)
            meta = Metadata(bit_depth=16 if array.dtype == np.uint16 else 8)
            images.append(to_image(Raster(array, meta), device or "cpu"))
        return images, kind
    if isinstance(value, torch.Tensor):
        order = _channel_order(value, channel_order)
        name = str(value.dtype).removeprefix("torch.")
        if name not in _TORCH_DTYPES:
            raise _refuse(value, f"dtype {name} is not one of {', '.join(_TORCH_DTYPES)}")
        found = _infer_layout(value, layout, channels_last_default=False)
        kind = ImageKind("tensor", found, value.dtype, value.device, order)
        planes = _to_bchw(value, found)
        planes = planes.to(device) if device is not None else planes
        if name == "uint8":
            planes = planes.float().div_(255.0)
        elif name == "uint16":
            planes = planes.to(torch.int32).float().div_(65535.0)
        else:
            planes = planes.float()
        if order == "bgr":
            planes = _swap_rb(planes, 1)
        meta_depth = 16 if name == "uint16" else 8
        caller = value.untyped_storage().data_ptr()
        images = []
        for one in planes:
            one = one.contiguous()
            if one.untyped_storage().data_ptr() == caller:  # the caller's memory: never handed to a stage
                one = one.clone()
            images.append(Image.from_planes(one, Metadata(bit_depth=meta_depth)))
        return images, kind
    try:
        import PIL.Image
    except ImportError:  # pragma: no cover - pillow is a core dependency
        PIL = None  # type: ignore[assignment]
    if PIL is not None and isinstance(value, PIL.Image.Image):
        return [to_image(raster_from_pil(value), device or "cpu")], ImageKind("pil", pil_mode=value.mode)
    raise _refuse(value, "not an image type")


def from_images(images: Sequence[Image], kind: ImageKind) -> Any:
    """Hand ``images`` back as :func:`to_images` received them (its kind, layout, dtype, device, order).

    Raises:
        ValueError: the images of a batch came out in different sizes or channel counts (a
            tensor or array holds one size only).
    """
    import numpy as np
    import torch

    if kind.container in ("image", "pil"):
        if len(images) != 1:
            raise ValueError(f"expected one image back, got {len(images)}")
        if kind.container == "image":
            return images[0]
        return pil_from_raster(from_image(images[0], bit_depth=8, dither=True))
    if not kind.is_batch and len(images) != 1:
        raise ValueError(f"expected one image back for a {kind.layout} input, got {len(images)}")
    shapes = {(im.rgba().shape[0], im.height, im.width) for im in images}
    if len(shapes) > 1:
        found = ", ".join(f"{c}x{h}x{w}" for c, h, w in sorted(shapes))
        raise ValueError(
            f"the images of one {kind.layout} batch came out in different shapes ({found}, CxHxW): a batch "
            "needs one size; run them one by one"
        )
    if kind.container == "numpy":
        dtype = np.dtype(kind.dtype)
        arrays = []
        for image in images:
            if dtype.kind == "f":
                array = image.rgba().clamp(0, 1).permute(1, 2, 0).cpu().numpy().astype(dtype)
            else:
                # dithered, so that a smooth result (e.g. a debanded sky) is not banded again
                array = from_image(image, bit_depth=16 if dtype == np.uint16 else 8, dither=True).array
            if kind.channel_order == "bgr" and array.shape[2] >= 3:
                array = array[:, :, [2, 1, 0, *range(3, array.shape[2])]]
            arrays.append(array)
        return np.ascontiguousarray(_numpy_from_bhwc(np.stack(arrays), str(kind.layout)))
    planes = torch.stack([image.rgba() for image in images])  # [B,C,H,W] float32 on the compute device
    if kind.channel_order == "bgr":
        planes = _swap_rb(planes, 1)
    name = str(kind.dtype).removeprefix("torch.")
    if name in ("uint8", "uint16"):
        levels = 255.0 if name == "uint8" else 65535.0
        planes = planes.clamp(0, 1).mul_(levels).round_()
        planes = planes.to(torch.uint8) if name == "uint8" else planes.to(torch.int32).to(torch.uint16)
    else:
        planes = planes.to(kind.dtype)
    out = _from_bchw(planes.to(kind.device), kind.layout)
    return out.contiguous()


def coerce(
    value: Any,
    device: torch.device | str | None = None,
    *,
    layout: Layout | str | None = None,
    channel_order: Literal["rgb", "bgr"] | str = "rgb",
) -> tuple[Image, ImageKind]:
    """One image: :func:`to_images` for callers that take a single image (a batch of one is fine).

    Raises:
        ImageFormatError: outside the contract, or a batch of more than one image.
    """
    images, kind = to_images(value, device, layout=layout, channel_order=channel_order)
    if len(images) != 1:
        raise _refuse(value, f"a batch of {len(images)} images where one image is expected")
    return images[0], kind


def restore_kind(image: Image, kind: ImageKind) -> Any:
    """Hand back one ``image`` as :func:`coerce` received it."""
    return from_images([image], kind)


# -- the image ops' layouts ---------------------------------------------------------------------------


def channels_first(x: torch.Tensor, layout: Layout | str | None) -> torch.Tensor:
    """``x`` as the image ops compute on it, ``[B,C,H,W]``, from the caller's ``layout``; ``layout``
    None means ``x`` already is channels-first (``[C,H,W]`` or ``[B,C,H,W]``): it is returned
    unchanged. A view, never a copy.

    Raises:
        ImageFormatError: ``layout`` does not fit ``x``.
    """
    if layout is None:
        return x
    return _to_bchw(x, _infer_layout(x, layout, channels_last_default=False))


def restore_layout(y: torch.Tensor, layout: Layout | str | None) -> torch.Tensor:
    """An op's channels-first result back in the caller's ``layout`` (None: unchanged)."""
    if layout is None:
        return y
    return _from_bchw(y, str(layout).upper())


def check_planes(x: Any, *, where: str, channels: Sequence[int] = (1, 2, 3, 4)) -> None:
    """Refuse what an image op cannot compute on: anything but a floating-point ``[C,H,W]`` or
    ``[B,C,H,W]`` tensor with an accepted channel count (the ops take other layouts through their
    ``layout=`` argument, see :func:`channels_first`).

    Raises:
        ImageFormatError: naming ``where`` (the op), the shape and dtype received and what it takes.
    """
    import torch

    counts = " or ".join(str(c) for c in channels)
    accepted = f"{where} takes float [C,H,W] or [B,C,H,W] tensors with C = {counts} (other layouts: pass layout=)"
    if not isinstance(x, torch.Tensor):
        raise _refuse(x, "not a torch tensor", accepted)
    if x.ndim not in (3, 4) or int(x.shape[-3]) not in channels:
        found = int(x.shape[-3]) if x.ndim >= 3 else 0
        raise _refuse(x, f"{x.ndim} dimensions, {found} at the channel axis", accepted)
    if not x.dtype.is_floating_point:
        raise _refuse(x, "not a float tensor in [0,1]", accepted)
