"""Helpers for the super-resolution tests: tiny random models spandrel detects, and a local server."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import torch


def tiny_compact_state(
    seed: int = 0, *, scale: int = 4, feat: int = 8, convs: int = 2, channels: int = 3, zero_last: bool = False
) -> dict[str, torch.Tensor]:
    """State dict of a small random SRVGGNetCompact (the realesr-*v3 architecture)."""
    from spandrel.architectures.Compact import Compact

    torch.manual_seed(seed)
    net = Compact(num_in_ch=channels, num_out_ch=channels, num_feat=feat, num_conv=convs, upscale=scale)
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    for k, v in state.items():  # larger weights than the default init, so outputs are not near-constant
        if k.endswith("weight") and v.ndim == 4:
            state[k] = v * 2.0
    if zero_last:  # out = nearest-neighbour upscale of the input: a model whose output is known
        last = max(int(k.split(".")[1]) for k in state if k.startswith("body."))
        state[f"body.{last}.weight"].zero_()
        state[f"body.{last}.bias"].zero_()
    return state


def tiny_rrdb_state(seed: int = 0, *, scale: int = 4) -> dict[str, torch.Tensor]:
    """State dict of a small random RRDBNet in Real-ESRGAN's (basicsr) key format."""
    from enhance.compat import import_reference

    rrdb = import_reference("basicsr.archs.rrdbnet_arch")
    torch.manual_seed(seed)
    # num_grow_ch stays 32: spandrel assumes Real-ESRGAN's value
    net = rrdb.RRDBNet(num_in_ch=3, num_out_ch=3, scale=scale, num_feat=8, num_block=1, num_grow_ch=32)
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def save_pth(path: Path, state: dict[str, torch.Tensor], key: str | None = "params") -> Path:
    """Save like Real-ESRGAN does (``{"params": state}``), or bare with ``key=None``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state if key is None else {key: state}, path)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 in a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connection refused at once: 'no network')."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def isolate_model_places(root: Path, monkeypatch, weights: str = "env") -> dict[str, Path]:
    """Empty model folders under ``root`` for every place enhance looks (cwd, ``$ENHANCE_WEIGHTS``
    = ``root/<weights>``, user cache), a closed port as the download server, downloads allowed.
    Returns the folders by name (plus ``server``, for files a test serves)."""
    import enhance.models.fetch as fetch_module

    dirs = {k: root / k for k in ("cwd", weights, "cache", "server")}
    for d in dirs.values():
        d.mkdir(exist_ok=True)
    monkeypatch.chdir(dirs["cwd"])
    monkeypatch.setenv("ENHANCE_WEIGHTS", str(dirs[weights]))
    monkeypatch.setattr(fetch_module, "user_cache_dir", lambda: dirs["cache"])
    monkeypatch.setattr(fetch_module, "_checkout_weights", lambda: None)
    monkeypatch.setenv("ENHANCE_MODEL_BASE_URL", closed_port_url())
    monkeypatch.delenv("ENHANCE_OFFLINE", raising=False)
    return dirs
