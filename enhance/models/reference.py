"""The ``realesrgan`` engine: upstream ``RealESRGANer`` (xinntao/Real-ESRGAN), as the reference.

It runs the upstream network classes (basicsr's ``RRDBNet``, realesrgan's ``SRVGGNetCompact``)
and upstream's own pre-pad / mod-pad / tile / hard-paste code, so its output is what the
original project produces; it is here for comparison and parity checks, while the default
``spandrel`` engine adds seamless, batched, memory-safe tiling.

Safety: ``RealESRGANer`` reads the checkpoint itself with a bare ``torch.load`` (which unpickles
anything on torch < 2.6), so every file is first read through :func:`enhance.models.load.read_state_dict`
(weights only) and refused there if it carries code; upstream then only ever sees vetted files.

Upstream works on host numpy arrays, so this engine downloads the image to the host and back:
one round trip per call, which the spandrel engine avoids.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compat import import_reference
from ..errors import ConfigError
from .load import descriptor_from_state_dict, read_state_dict

if TYPE_CHECKING:
    import torch

__all__ = ["ReferenceUpscaler", "build_reference_net"]


def build_reference_net(state: dict[str, Any], source: str = "model") -> tuple[torch.nn.Module, int]:
    """The upstream network (not yet loaded) for a Real-ESRGAN checkpoint, and its scale.

    Raises:
        ConfigError: not an RRDBNet/SRVGGNetCompact checkpoint in Real-ESRGAN's own format.
    """
    from spandrel import canonicalize_state_dict

    descriptor = descriptor_from_state_dict(state, source)
    arch = str(descriptor.architecture.id)
    if arch == "Compact":
        srvgg = import_reference("realesrgan.archs.srvgg_arch")
        m = descriptor.model
        net = srvgg.SRVGGNetCompact(
            num_in_ch=m.num_in_ch, num_out_ch=m.num_out_ch, num_feat=m.num_feat, num_conv=m.num_conv,
            upscale=m.upscale, act_type=m.act_type,
        )  # fmt: skip
        return net, descriptor.scale
    sd = canonicalize_state_dict(state)
    if arch == "ESRGAN" and "conv_first.weight" in sd:
        rrdb = import_reference("basicsr.archs.rrdbnet_arch")
        blocks = {int(m.group(1)) for k in sd if (m := re.match(r"body\.(\d+)\.rdb1\.conv1\.weight$", k))}
        net = rrdb.RRDBNet(
            num_in_ch=descriptor.input_channels, num_out_ch=descriptor.output_channels, scale=descriptor.scale,
            num_feat=sd["conv_first.weight"].shape[0], num_block=len(blocks),
            num_grow_ch=sd["body.0.rdb1.conv1.weight"].shape[0],
        )  # fmt: skip
        return net, descriptor.scale
    raise ConfigError(
        f"{source}: the realesrgan engine runs only Real-ESRGAN checkpoints (RRDBNet or SRVGGNetCompact in "
        f"Real-ESRGAN's format); this is {arch}: use engine: spandrel"
    )


class ReferenceUpscaler:
    """Upstream ``RealESRGANer`` on one model, callable on ``[3,H,W]`` float tensors.

    Args:
        path: the checkpoint (Real-ESRGAN format: weights under ``params`` or ``params_ema``).
        device: where upstream runs the network.
        half: fp16 (upstream's only reduced precision).
        tile: upstream tile size (0: whole image); ``tile_pad``: its context margin.
        pre_pad: upstream's reflection pre-padding (bottom/right).
        interpolate_with: ``(other_path, weight)`` for upstream's deep network interpolation.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        device: torch.device | str = "cpu",
        half: bool = False,
        tile: int = 0,
        tile_pad: int = 10,
        pre_pad: int = 0,
        interpolate_with: tuple[str | Path, float] | None = None,
    ) -> None:
        import torch

        realesrgan = import_reference("realesrgan")
        state = read_state_dict(path)
        if not any(k in state for k in ("params", "params_ema")):
            raise ConfigError(
                f"model file {path} has no 'params'/'params_ema' entry, which upstream RealESRGANer needs: "
                "use engine: spandrel"
            )
        net, self.scale = build_reference_net(state, str(path))
        model_path: Any = str(path)
        dni_weight = None
        if interpolate_with is not None:
            other, weight = interpolate_with
            read_state_dict(other)  # vet the second file too before upstream unpickles it
            model_path, dni_weight = [str(path), str(other)], [float(weight), 1.0 - float(weight)]
        with contextlib.redirect_stdout(io.StringIO()):
            self.upsampler = realesrgan.RealESRGANer(
                scale=self.scale, model_path=model_path, dni_weight=dni_weight, model=net, tile=tile,
                tile_pad=tile_pad, pre_pad=pre_pad, half=half, device=torch.device(device),
            )  # fmt: skip

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale ``[3,H,W]`` RGB float in [0,1]; returns ``[3,H*s,W*s]`` float32 on ``x``'s device."""
        import torch

        up = self.upsampler
        planes = x.detach().float().permute(1, 2, 0).cpu().numpy()
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            up.pre_process(planes)
            if up.tile_size > 0:
                up.tile_process()
            else:
                up.process()
            out = up.post_process()
        return out[0].float().clamp_(0.0, 1.0).to(x.device)
