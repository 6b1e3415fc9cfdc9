"""Safe loading: weights only, pickled code refused before it runs, spandrel detection, caching."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from enhance.errors import ConfigError
from enhance.models.load import (
    DEFAULT_CACHE_SIZE,
    clear_cache,
    inspect_file,
    interpolate_state_dicts,
    load_model,
    read_state_dict,
    set_cache_size,
)
from tests.sr_models import save_pth, tiny_compact_state


class CreatesAFile:
    """Pickles to 'call open(marker, "w")': unpickling it with plain pickle creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def malicious_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"params": tiny_compact_state(), "extra": CreatesAFile(marker)}, path)
    return path


def test_the_payload_is_live_when_unpickled_without_protection(tmp_path: Path) -> None:
    """Control: proves the test checkpoint really runs code under a plain unpickler."""
    marker = tmp_path / "control-ran"
    malicious_checkpoint(tmp_path / "control.pth", marker)
    torch.load(tmp_path / "control.pth", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("reader", [read_state_dict, inspect_file])
def test_a_checkpoint_with_pickled_code_is_refused_and_its_payload_never_runs(tmp_path: Path, reader) -> None:
    marker = tmp_path / "pwned"
    path = malicious_checkpoint(tmp_path / "evil.pth", marker)
    with pytest.raises(ConfigError, match=r"evil\.pth was refused: it carries pickled code") as info:
        reader(path)
    assert "open" in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_plain_pickle_file_is_refused_too(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps(CreatesAFile(marker)))
    with pytest.raises(ConfigError, match=r"refused: it carries pickled code.*it would call (builtins|io)\.open"):
        read_state_dict(path)
    assert not marker.exists()


def test_safetensors_and_pth_give_the_same_detected_model(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    state = tiny_compact_state(seed=3, scale=2)
    save_file(state, str(tmp_path / "m.safetensors"))
    save_pth(tmp_path / "m.pth", state)
    a, b = inspect_file(tmp_path / "m.safetensors"), inspect_file(tmp_path / "m.pth")
    assert (a.arch, a.scale, a.input_channels, a.output_channels) == ("Compact", 2, 3, 3)
    assert a.supports_half and a.supports_bfloat16 and a.multiple_of == 1
    assert (b.arch, b.scale, b.parameters) == (a.arch, a.scale, a.parameters)


def test_an_unknown_architecture_and_a_non_checkpoint_are_clear_errors(tmp_path: Path) -> None:
    save_pth(tmp_path / "odd.pth", {"foo.weight": torch.zeros(3, 3)})
    with pytest.raises(ConfigError, match="does not recognise"):
        inspect_file(tmp_path / "odd.pth")
    (tmp_path / "text.pth").write_text("not a model")
    with pytest.raises(ConfigError, match=r"cannot read model file .*text\.pth"):
        read_state_dict(tmp_path / "text.pth")
    with pytest.raises(ConfigError, match="does not exist"):
        read_state_dict(tmp_path / "missing.pth")


def test_models_are_loaded_once_per_file_device_and_dtype(tmp_path: Path) -> None:
    clear_cache()
    path = save_pth(tmp_path / "m.pth", tiny_compact_state())
    a = load_model(path)
    assert load_model(path) is a
    half = load_model(path, dtype=torch.bfloat16)
    assert half is not a and next(half.model.parameters()).dtype == torch.bfloat16
    assert not next(a.model.parameters()).requires_grad and not a.model.training


def test_interpolation_mixes_weights_like_upstream_dni() -> None:
    a, b = tiny_compact_state(seed=1), tiny_compact_state(seed=2)
    mixed = interpolate_state_dicts({"params": a}, {"params": b}, 0.3)
    for k in a:
        torch.testing.assert_close(mixed[k], 0.3 * a[k] + 0.7 * b[k])
    with pytest.raises(ConfigError, match="different architectures"):
        interpolate_state_dicts(a, tiny_compact_state(feat=4), 0.5)


@pytest.mark.parametrize("content", [b"junk\n", b"", b"\x80\x02}q\x00.", b"PK\x03\x04garbage"])
def test_any_junk_model_file_is_a_config_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.pth"
    path.write_bytes(content)  # b"junk\n" makes the weights-only unpickler raise KeyError
    with pytest.raises(ConfigError, match=r"cannot read model file .*junk\.pth: not a readable model checkpoint"):
        read_state_dict(path)


@pytest.fixture
def cache_size() -> Iterator[None]:
    """The cache as enhance ships it, before and after the test."""
    set_cache_size(DEFAULT_CACHE_SIZE)
    clear_cache()
    yield
    set_cache_size(DEFAULT_CACHE_SIZE)
    clear_cache()


def test_the_cache_keeps_the_most_recently_used_models(tmp_path: Path, cache_size: None) -> None:
    paths = [save_pth(tmp_path / f"m{i}.pth", tiny_compact_state(seed=i)) for i in range(3)]
    assert set_cache_size(2) == DEFAULT_CACHE_SIZE
    first, second = load_model(paths[0]), load_model(paths[1])
    assert load_model(paths[0]) is first  # used again: now the most recent
    load_model(paths[2])  # the least recently used (second) goes
    assert load_model(paths[0]) is first and load_model(paths[1]) is not second
    assert set_cache_size(None) == 2  # no limit
    kept = [load_model(p) for p in paths]
    assert [load_model(p) for p in paths] == kept
    set_cache_size(0)  # nothing kept
    assert load_model(paths[0]) is not load_model(paths[0])


def test_clearing_the_cache_lets_the_models_go(tmp_path: Path, cache_size: None) -> None:
    import gc
    import weakref

    model = weakref.ref(load_model(save_pth(tmp_path / "m.pth", tiny_compact_state())).model)
    gc.collect()
    assert model() is not None  # the cache holds it
    clear_cache()
    assert model() is None


@pytest.mark.parametrize("size", [-1, 1.5, True, "4"])
def test_a_cache_size_must_be_a_count(size: object, cache_size: None) -> None:
    with pytest.raises(ValueError, match="cache size must be a whole number >= 0 or None"):
        set_cache_size(size)  # type: ignore[arg-type]
