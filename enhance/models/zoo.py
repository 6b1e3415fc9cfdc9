"""The model zoo: metadata of the official Real-ESRGAN models, apart from any loading code.

Pure data, no torch: ``enhance models list`` works offline and fast.

Hashes. Upstream (xinntao/Real-ESRGAN) publishes no checksums for its release files, so a digest
is pinned here only where its origin can be cited:

* the shared ``realesr-animevideov3.pth`` given to this project (sha256 computed on the file
  itself; it is a re-saved copy, 2,334,339 bytes, not byte-identical to the release asset);
* digests of the release assets that independent public sources list identically: the Arch
  User Repository ``python-realesrgan`` PKGBUILD (``sha256sums``, checked by every ``makepkg``
  build) and several unrelated projects that pin the same release URLs with the same digest and
  byte size (found with a code search of public repositories in 2026; see ``sha256_source``).

A model with no pinned digest is trusted on first use: the digest of its first download (which
must load weights-only and be detected as the expected architecture and scale) is recorded in a
``<file>.sha256`` beside it and checked from then on; ``enhance models list`` says which is which.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError, quote

__all__ = ["ModelEntry", "ZOO", "RELEASES", "get_entry", "model_names", "is_zoo_name"]

RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
_LICENSE = "BSD-3-Clause"
_AUR = "AUR python-realesrgan PKGBUILD sha256sums"
_PROJECTS = "and independent projects pinning the same release URL (public code search, 2026)"


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable model.

    Attributes:
        name: the zoo name used in pipelines.yaml and on the command line.
        arch: the architecture spandrel detects (``ESRGAN`` = RRDBNet, ``Compact`` = SRVGGNetCompact).
        scale: native upscale factor.
        url: official release URL (its last path part is the file name).
        size: byte size of the release asset, where known (progress bar and ``models list``).
        sha256: accepted digests (lower-case hex); empty means trust on first use.
        sha256_source: where the pinned digests come from.
        license: licence of the weights.
        kind: what the model is for (``general`` or ``anime``).
        notes: one line for ``enhance models list --long`` and the docs.
        denoise_partner: the model whose weights are interpolated with this one for
            ``denoise_strength`` (upstream's deep network interpolation), if any.
    """

    name: str
    arch: str
    scale: int
    url: str
    size: int | None
    sha256: tuple[str, ...]
    sha256_source: str
    license: str
    kind: str
    notes: str
    denoise_partner: str | None = None

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def pinned(self) -> bool:
        return bool(self.sha256)


ZOO: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name="RealESRGAN_x4plus",
            arch="ESRGAN",
            scale=4,
            url=f"{RELEASES}/v0.1.0/RealESRGAN_x4plus.pth",
            size=67_040_989,
            sha256=("4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1",),
            sha256_source=f"{_AUR} {_PROJECTS}",
            license=_LICENSE,
            kind="general",
            notes="RRDBNet 23 blocks; the reference general x4 GAN model (strong, slow)",
        ),
        ModelEntry(
            name="RealESRGAN_x2plus",
            arch="ESRGAN",
            scale=2,
            url=f"{RELEASES}/v0.2.1/RealESRGAN_x2plus.pth",
            size=67_061_725,
            sha256=("49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb",),
            sha256_source=f"{_AUR} {_PROJECTS}",
            license=_LICENSE,
            kind="general",
            notes="RRDBNet 23 blocks with pixel-unshuffle; native x2 (2K -> 4K without a downscale)",
        ),
        ModelEntry(
            name="RealESRNet_x4plus",
            arch="ESRGAN",
            scale=4,
            url=f"{RELEASES}/v0.1.1/RealESRNet_x4plus.pth",
            size=67_040_989,
            sha256=("a820b9bde89a874d7599d545567308ce6c128fc8754a53208eda016d40aa81df",),
            sha256_source=f"{_AUR} {_PROJECTS}",
            license=_LICENSE,
            kind="general",
            notes="RRDBNet trained with MSE loss only: smoother, no GAN texture",
        ),
        ModelEntry(
            name="RealESRGAN_x4plus_anime_6B",
            arch="ESRGAN",
            scale=4,
            url=f"{RELEASES}/v0.2.2.4/RealESRGAN_x4plus_anime_6B.pth",
            size=17_938_799,
            sha256=("f872d837d3c90ed2e05227bed711af5671a6fd1c9f7d7e91c911a61f155e99da",),
            sha256_source=f"{_AUR} {_PROJECTS}",
            license=_LICENSE,
            kind="anime",
            notes="RRDBNet 6 blocks, tuned for anime illustrations",
        ),
        ModelEntry(
            name="realesr-animevideov3",
            arch="Compact",
            scale=4,
            url=f"{RELEASES}/v0.2.5.0/realesr-animevideov3.pth",
            size=2_504_012,
            sha256=(
                # the release asset (2,504,012 bytes)
                "b8a8376811077954d82ca3fcf476f1ac3da3e8a68a4f4d71363008000a18b75d",
                # the re-saved copy shipped in the project's shared folder (2,334,339 bytes)
                "4e1e09ba96d08bd4b8455e8897c3242a3501e3766f359941ea894122e158a932",
            ),
            sha256_source=(
                "release asset: independent projects pinning the release URL (public code search, 2026); "
                "shared copy: computed on the project's shared file"
            ),
            license=_LICENSE,
            kind="anime",
            notes="SRVGGNetCompact 16 convs (XS): very fast, anime/cartoon content",
        ),
        ModelEntry(
            name="realesr-general-x4v3",
            arch="Compact",
            scale=4,
            url=f"{RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",
            size=4_885_111,
            sha256=("8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292",),
            sha256_source=f"{_AUR} {_PROJECTS}",
            license=_LICENSE,
            kind="general",
            notes="SRVGGNetCompact 32 convs (S): fast general model; denoise_strength 0-1",
            denoise_partner="realesr-general-wdn-x4v3",
        ),
        ModelEntry(
            name="realesr-general-wdn-x4v3",
            arch="Compact",
            scale=4,
            url=f"{RELEASES}/v0.2.5.0/realesr-general-wdn-x4v3.pth",
            size=4_885_111,
            sha256=("1641f8c4464b9f097c9fdda5589273713f67cf59f3d909e0bd688f0cee269dca",),
            sha256_source=f"{_AUR} {_PROJECTS}",
            license=_LICENSE,
            kind="general",
            notes="weak-denoise twin of realesr-general-x4v3 (its denoise_strength 0 end)",
        ),
    )
}


def model_names() -> list[str]:
    """Every zoo name, in zoo order."""
    return list(ZOO)


def is_zoo_name(value: str) -> bool:
    """Whether ``value`` names a zoo model (a name, not a path)."""
    return value in ZOO


def get_entry(name: str) -> ModelEntry:
    """The zoo entry called ``name``.

    Raises:
        ConfigError: no such model (the message lists the known names).
    """
    try:
        return ZOO[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {quote(name)}: use one of {', '.join(ZOO)} or a path to a .pth/.safetensors file"
        ) from None
