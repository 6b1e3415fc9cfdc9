"""Find, download and verify model files; no torch at import.

Resolution order for a model (first hit wins):

1. an explicit path (``model: path/to/file.pth``);
2. ``weights/`` in the current directory, then ``weights/`` of the source checkout enhance runs
   from (if any);
3. ``$ENHANCE_WEIGHTS``;
4. the user cache: ``$XDG_CACHE_HOME/enhance/weights`` (default ``~/.cache/enhance/weights``;
   ``%LOCALAPPDATA%\\enhance\\weights`` on Windows, ``~/Library/Caches/enhance/weights`` on macOS).

A zoo model found nowhere is downloaded into ``$ENHANCE_WEIGHTS`` when set, else the user cache:
streamed to a temporary file in the same folder while its sha256 is computed, checked, synced,
then moved into place with ``os.replace`` (atomic, :func:`enhance.files.atomic_output`), so an
interrupted or refused download leaves nothing behind. ``$ENHANCE_MODEL_BASE_URL`` replaces the
release folder of every zoo URL (a mirror, or a local server in tests): the file name is kept.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from ..events import DownloadProgress, EventSink, emitter
from .zoo import ModelEntry, get_entry, is_zoo_name

__all__ = [
    "MODEL_SUFFIXES",
    "Verdict",
    "user_cache_dir",
    "search_dirs",
    "download_dir",
    "downloads_allowed",
    "trusted_file",
    "entry_url",
    "find_local",
    "sha256_file",
    "check_file",
    "resolve_model",
    "fetch",
    "download",
]

MODEL_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
SIDECAR_SUFFIX = ".sha256"
_CHUNK = 1 << 20
_TIMEOUT_S = 30.0


def user_cache_dir() -> Path:
    """Where downloaded models live by default (per user, outside any project)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "enhance" / "weights"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "enhance" / "weights"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "enhance" / "weights"


def _checkout_weights() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root / "weights" if (root / "pyproject.toml").is_file() else None


def search_dirs() -> list[Path]:
    """The folders searched for a zoo model's file, in order (see the module docstring)."""
    dirs = [Path.cwd() / "weights"]
    checkout = _checkout_weights()
    if checkout is not None:
        dirs.append(checkout)
    env = os.environ.get("ENHANCE_WEIGHTS")
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(user_cache_dir())
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in [u.resolve() for u in unique]:
            unique.append(d)
    return unique


def download_dir() -> Path:
    """Where a missing zoo model is downloaded to: ``$ENHANCE_WEIGHTS`` if set, else the user cache."""
    env = os.environ.get("ENHANCE_WEIGHTS")
    return Path(env).expanduser() if env else user_cache_dir()


def entry_url(entry: ModelEntry) -> str:
    """The URL to download ``entry`` from (``$ENHANCE_MODEL_BASE_URL`` replaces the folder)."""
    base = os.environ.get("ENHANCE_MODEL_BASE_URL")
    return f"{base.rstrip('/')}/{entry.filename}" if base else entry.url


def find_local(entry: ModelEntry) -> Path | None:
    """The first existing file for ``entry`` in :func:`search_dirs`, or None."""
    for folder in search_dirs():
        candidate = folder / entry.filename
        if candidate.is_file():
            return candidate
    return None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _read_sidecar(path: Path) -> str | None:
    side = _sidecar(path)
    if not side.is_file():
        return None
    text = side.read_text(encoding="utf-8").split()
    return text[0].lower() if text else None


def _write_sidecar(path: Path, digest: str) -> bool:
    from ..files import atomic_write_text

    try:
        atomic_write_text(_sidecar(path), f"{digest}  {path.name}\n")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one file against what is known of it.

    ``status`` is ``pinned`` (matches a pinned digest), ``recorded`` (matches the digest recorded
    on first use), ``unrecorded`` (no pin and no record yet), or ``mismatch``.
    """

    path: Path
    status: str
    digest: str
    expected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.status != "mismatch"


def check_file(entry: ModelEntry, path: Path) -> Verdict:
    """Compare ``path``'s sha256 with the entry's pins, or with the digest recorded beside it."""
    digest = sha256_file(path)
    if entry.pinned:
        status = "pinned" if digest in entry.sha256 else "mismatch"
        return Verdict(path, status, digest, entry.sha256)
    recorded = _read_sidecar(path)
    if recorded is None:
        return Verdict(path, "unrecorded", digest, ())
    return Verdict(path, "recorded" if digest == recorded else "mismatch", digest, (recorded,))


def _mismatch_error(entry: ModelEntry, verdict: Verdict) -> ConfigError:
    return ConfigError(
        f"model file {verdict.path} does not match model {entry.name!r}: sha256 {verdict.digest}, "
        f"expected {' or '.join(verdict.expected)}; it is corrupt or a different file: delete it and run "
        f"'enhance models fetch {entry.name}'"
    )


def trusted_file(entry: ModelEntry, path: Path) -> Path:
    """``path`` after checking it against ``entry``'s pins (ConfigError on a mismatch); an
    unpinned, unrecorded file has its digest recorded now (trust on first use)."""
    verdict = check_file(entry, path)
    if verdict.status == "mismatch":
        raise _mismatch_error(entry, verdict)
    if verdict.status == "unrecorded":
        _write_sidecar(path, verdict.digest)
    return path


def resolve_model(
    spec: str | os.PathLike[str],
    *,
    download: bool | None = None,
    on_event: EventSink | None = None,
) -> Path:
    """The file for a zoo name or a path, downloading a missing zoo model when allowed.

    ``download`` defaults to true unless ``$ENHANCE_OFFLINE`` is set (to anything but ``0``).
    A download reports its progress to ``on_event`` (see :func:`download`).

    Raises:
        ConfigError: unknown name, a path that does not exist, a file that fails its check, or a
            missing model that cannot be downloaded (the message names the URL and the folder to
            put the file in).
    """
    text = os.fspath(spec)
    if not is_zoo_name(text):
        path = Path(text).expanduser()
        if path.is_file():
            return path
        if path.suffix.lower() in MODEL_SUFFIXES or os.sep in text or "/" in text:
            raise ConfigError(f"model file {path} does not exist: check the path, or use a zoo name")
    entry = get_entry(text)  # an unknown name raises the error that lists the known ones
    local = find_local(entry)
    if local is not None:
        return trusted_file(entry, local)
    if download is None:
        download = downloads_allowed()
    if not download:
        raise _missing_error(entry, "downloads are turned off")
    return fetch(entry, on_event=on_event)


def _missing_error(entry: ModelEntry, reason: str, folder: Path | None = None) -> ConfigError:
    return ConfigError(
        f"model {entry.name!r} is not on this machine and could not be downloaded from {entry_url(entry)} "
        f"({reason}): download that file yourself and put it in {folder or download_dir()} (or ./weights/), "
        "then run again"
    )


def downloads_allowed() -> bool:
    """False when ``ENHANCE_OFFLINE`` is set to anything but ``0``: never touch the network."""
    return os.environ.get("ENHANCE_OFFLINE", "0") in ("", "0")


def fetch(
    entry: ModelEntry | str,
    *,
    dest: Path | None = None,
    on_event: EventSink | None = None,
    force: bool = False,
    validate: Callable[[Path, ModelEntry], None] | None = None,
) -> Path:
    """Download a zoo model into ``dest`` (default :func:`download_dir`) unless a good copy is there.

    An unpinned model is trusted on first use: ``validate`` (default: it must load weights-only
    and be detected as the entry's architecture and scale) runs on the downloaded file before
    its digest is recorded beside it. The download reports its progress to ``on_event`` (see
    :func:`download`).

    Raises:
        ConfigError: the download failed or was refused (the message names the URL and folder).
    """
    import urllib.error  # here, not at import: urllib.request pulls in ssl/http (slow for --help)

    entry = get_entry(entry) if isinstance(entry, str) else entry
    folder = dest or download_dir()
    target = folder / entry.filename
    if target.is_file() and not force:
        return trusted_file(entry, target)
    url = entry_url(entry)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the model folder {folder}: {exc.strerror or exc}") from None
    check = validate if validate is not None else (None if entry.pinned else _default_validate)

    def validate_download(path: Path) -> None:
        if check is not None:
            check(path, entry)

    try:
        digest = download(
            url, target, expected=entry.sha256, size=entry.size, on_event=on_event, validate=validate_download
        )
    except urllib.error.HTTPError as exc:
        raise _missing_error(entry, f"HTTP {exc.code} {exc.reason}", folder) from None
    except urllib.error.URLError as exc:
        raise _missing_error(entry, f"no network: {exc.reason}", folder) from None
    except (TimeoutError, ConnectionError) as exc:
        raise _missing_error(entry, f"no network: {exc}", folder) from None
    except OSError as exc:  # a read-only or full folder: the transfer itself was fine
        raise ConfigError(
            f"cannot save model {entry.name!r} into {folder}: {exc.strerror or exc}; set ENHANCE_WEIGHTS to a "
            f"writable folder, or download {url} yourself and put it in ./weights/"
        ) from None
    if not entry.pinned:
        _write_sidecar(target, digest)
    return target


def _default_validate(path: Path, entry: ModelEntry) -> None:
    from .load import inspect_file

    info = inspect_file(path)
    if info.arch != entry.arch or info.scale != entry.scale:
        raise ConfigError(
            f"downloaded {entry.name} is a {info.arch} x{info.scale} model, expected {entry.arch} x{entry.scale}: "
            "refused, nothing was saved"
        )


def download(
    url: str,
    target: Path,
    *,
    expected: tuple[str, ...] = (),
    size: int | None = None,
    on_event: EventSink | None = None,
    validate: Callable[[Path], None] | None = None,
) -> str:
    """Stream ``url`` to ``target`` atomically and return its sha256.

    The bytes go to a temporary file beside ``target`` while being hashed; a digest not in
    ``expected`` (when given), a failing ``validate``, an error or an interrupt removes it, so
    ``target`` is either the complete, checked file or untouched. Progress goes to ``on_event``
    (else to the callback :func:`enhance.events.listening` installed, else nowhere) as
    :class:`~enhance.events.DownloadProgress` events: as bytes arrive, and once when it ends.

    Raises:
        ConfigError: the digest does not match (nothing is saved).
        urllib.error.URLError, OSError: the transfer failed (nothing is saved).
    """
    import urllib.request

    from ..files import atomic_output

    # the temporary file keeps the model's suffix: validate reads it by its type
    with atomic_output(target, keep_suffix=True) as tmp:
        digest = hashlib.sha256()
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or size
            emit, done = emitter(on_event), 0
            emit(DownloadProgress(target.name, 0, total))
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    emit(DownloadProgress(target.name, done, total))
            finally:
                emit(DownloadProgress(target.name, done, total, finished=True))
        hexdigest = digest.hexdigest()
        if expected and hexdigest not in expected:
            raise ConfigError(
                f"download of {url} was refused: sha256 {hexdigest}, expected {' or '.join(expected)}; "
                "nothing was saved (a damaged transfer or a changed file: try again, or report it)"
            )
        if validate is not None:
            validate(tmp)
    return hexdigest
