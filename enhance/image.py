"""The image that flows through a pipeline and its metadata, in file form and compute form.

Two forms exist on purpose:

* :class:`Raster` is the compact *file* form: a numpy ``HxWxC`` array of integers exactly as
  decoded (uint8 or uint16, alpha as the last channel) plus metadata. Decoding and encoding work on
  rasters, on worker threads, and a raster is what travels to and from the device: one upload of
  the compact form, one download.
* :class:`Image` is the *compute* form: float32 ``[C,H,W]`` in ``[0,1]`` (C is 1 for gray or 3 for
  RGB, sRGB-encoded), an optional straight (not premultiplied) alpha plane ``[1,H,W]``, and the
  metadata. It stays on one device from the first stage to the last.

Conversions from and to what users hold (numpy, PIL, tensors, paths) live above this module and
the codecs, in :mod:`enhance.convert`; ``coerce`` and ``restore_kind`` stay importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .credentials.summary import SourceCredentials

#: names that moved to :mod:`enhance.convert` and resolve from there on first use
_MOVED = ("coerce", "restore_kind")

__all__ = ["Metadata", "Raster", "Image", "to_image", "from_image", *_MOVED]


def __getattr__(name: str) -> Any:
    if name in _MOVED:  # by name, not an import: this module sits below convert and the codecs
        import importlib

        return getattr(importlib.import_module("enhance.convert"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_MOVED])


@dataclass
class Metadata:
    """What rides along with the pixels from read to write.

    Attributes:
        source: the file the image came from, if any.
        format: the source container (``PNG``, ``JPEG``, ``WEBP``, ``TIFF``), if known.
        mode: the source PIL mode (``RGB``, ``I;16``, ``P``, ``CMYK``...), for messages.
        bit_depth: bits per sample of the source (8 or 16); 16-bit stays 16-bit when asked.
        icc_profile: the embedded ICC profile, written back unchanged.
        exif: raw EXIF bytes with the orientation tag reset to 1 (pixels are already upright).
        text: PNG text chunks (tEXt/zTXt/iTXt), e.g. a generator's ``parameters`` or ``prompt``;
            the XMP packet of any format under ``XML:com.adobe.xmp``.
        dpi: physical resolution, if the source had one.
        content_credentials: what the source's C2PA manifest claims, if it had one (never carried
            into outputs: a manifest is bound to the source's bytes).
        warnings: what reading the source changed or left out (frames of an animation, a float
            TIFF's encoding...), one line each, for the record.
    """

    source: Path | None = None
    format: str | None = None
    mode: str | None = None
    bit_depth: int = 8
    icc_profile: bytes | None = None
    exif: bytes | None = None
    text: dict[str, str] = field(default_factory=dict)
    dpi: tuple[float, float] | None = None
    content_credentials: SourceCredentials | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Raster:
    """Decoded pixels as integers, ``HxWxC`` (C = 1, 2 (gray+alpha), 3 or 4), plus metadata."""

    array: np.ndarray
    meta: Metadata = field(default_factory=Metadata)

    @property
    def has_alpha(self) -> bool:
        return self.array.shape[2] in (2, 4)


@dataclass
class Image:
    """Float pixels on a device plus metadata; see the module docstring."""

    pixels: torch.Tensor
    alpha: torch.Tensor | None = None
    meta: Metadata = field(default_factory=Metadata)

    def __post_init__(self) -> None:
        if self.pixels.ndim != 3 or self.pixels.shape[0] not in (1, 3):
            raise ValueError(f"Image.pixels must be [C,H,W] with C in (1, 3), got {tuple(self.pixels.shape)}")
        if self.alpha is not None and (
            self.alpha.ndim != 3 or self.alpha.shape[0] != 1 or self.alpha.shape[1:] != self.pixels.shape[1:]
        ):
            raise ValueError(
                f"Image.alpha must be [1,H,W] matching pixels {tuple(self.pixels.shape)}, got {tuple(self.alpha.shape)}"
            )

    @property
    def height(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as PIL orders it."""
        return self.width, self.height

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def is_gray(self) -> bool:
        return self.channels == 1

    @property
    def device(self) -> torch.device:
        return self.pixels.device

    def replace(self, **changes: Any) -> Image:
        """A copy with some fields replaced (metadata is shared, pixels are not copied)."""
        return replace(self, **changes)

    def to(self, device: torch.device | str) -> Image:
        """The same image on ``device`` (no copy when already there)."""
        alpha = None if self.alpha is None else self.alpha.to(device, non_blocking=True)
        return self.replace(pixels=self.pixels.to(device, non_blocking=True), alpha=alpha)

    def rgba(self) -> torch.Tensor:
        """Pixels with alpha appended as the last channel, ``[C(+1),H,W]``."""
        import torch

        return self.pixels if self.alpha is None else torch.cat([self.pixels, self.alpha], dim=0)

    @classmethod
    def from_planes(cls, planes: torch.Tensor, meta: Metadata | None = None) -> Image:
        """Build from ``[C,H,W]`` float planes where C is 1, 2 (gray+alpha), 3 or 4 (RGBA)."""
        c = planes.shape[0]
        if c not in (1, 2, 3, 4):
            raise ValueError(f"expected 1 to 4 channels, got {c}")
        if c in (2, 4):
            return cls(planes[:-1], planes[-1:], meta or Metadata())
        return cls(planes, None, meta or Metadata())


def to_image(raster: Raster, device: torch.device | str = "cpu") -> Image:
    """Upload a raster to ``device`` in its compact integer form and normalise it there to float."""
    import numpy as np
    import torch

    array = raster.array
    if array.ndim == 2:
        array = array[:, :, None]
    if array.dtype == np.uint8:
        scale = 255.0
    elif array.dtype == np.uint16:
        scale = 65535.0
    elif array.dtype.kind == "f":
        scale = 1.0
    else:
        raise ValueError(f"unsupported raster dtype {array.dtype}: expected uint8, uint16 or float")
    from .devices import upload

    planes = upload(array, device).permute(2, 0, 1).to(torch.float32)  # pinned, async on CUDA
    if scale != 1.0:
        planes = planes.mul_(1.0 / scale)
    else:
        planes = planes.clamp_(0.0, 1.0)
    return Image.from_planes(planes.contiguous(), raster.meta)


def from_image(image: Image, *, bit_depth: int = 8, dither: bool = False, seed: int = 0) -> Raster:
    """Quantize on the image's device and download once: the inverse of :func:`to_image`.

    ``dither`` adds triangular (TPDF) noise of one code value before rounding, so smooth float
    gradients do not come back as bands in 8 bits; it is seeded, so the result is repeatable. It
    applies to 8-bit output only: 16-bit steps are far below visibility, and a 16-bit source must
    come back exactly. Values already on the output grid (within 1/1000 of a code) are not
    dithered: rounding them loses nothing, so pixels a pipeline left untouched come back exactly.
    """
    import torch

    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    levels = 255.0 if bit_depth == 8 else 65535.0
    planes = image.rgba().clamp(0.0, 1.0) * levels
    if dither and bit_depth == 8:
        # colour planes only: alpha is exact coverage, and opaque must stay exactly opaque
        colour = image.channels
        generator = torch.Generator(device=planes.device).manual_seed(seed)
        shape = (colour, *planes.shape[1:])
        noise = torch.rand(shape, generator=generator, device=planes.device, dtype=planes.dtype)
        noise -= torch.rand(shape, generator=generator, device=planes.device, dtype=planes.dtype)
        on_grid = (planes[:colour] - planes[:colour].round()).abs_() < 1e-3
        planes[:colour] += noise.masked_fill_(on_grid, 0.0)
    planes = planes.round_().clamp_(0.0, levels)
    dtype = torch.uint8 if bit_depth == 8 else torch.int32
    from .devices import start_download

    out = start_download(planes.to(dtype).permute(1, 2, 0).contiguous()).result()
    if bit_depth == 16:
        out = out.astype("uint16")
    return Raster(out, image.meta)
