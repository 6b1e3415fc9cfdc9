"""Device memory helpers: what counts as running out of memory, and giving memory back."""

from __future__ import annotations

import pytest
import torch

from enhance.devices import available_memory, is_out_of_memory, release_memory
from enhance.errors import InputError


def _reported_as_input_error(cause: BaseException) -> InputError:
    """What the upscale stage does: name the file, hide the cause's traceback."""
    try:
        try:
            raise cause
        except MemoryError as exc:
            raise InputError(f"in/huge.png: upscale failed: {exc}") from None
    except InputError as reported:
        return reported


@pytest.mark.parametrize(
    "exc",
    [
        MemoryError(),
        MemoryError("Unable to allocate 3.2 GiB for an array with shape (20000, 20000, 4)"),  # numpy's
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 96000000000 bytes."),
        RuntimeError("MPS backend out of memory (MPS allocated: 17.00 GB)"),
    ],
)
def test_out_of_memory_errors_are_recognised(exc: BaseException) -> None:
    assert is_out_of_memory(exc)


def test_an_error_reported_from_an_out_of_memory_is_one() -> None:
    assert is_out_of_memory(_reported_as_input_error(MemoryError()))
    try:
        raise RuntimeError("tile failed") from torch.cuda.OutOfMemoryError("CUDA out of memory")
    except RuntimeError as exc:
        assert is_out_of_memory(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("the memory budget is out of memory range"),  # a mention is not an allocator's report
        RuntimeError("Given groups=1, weight of size [64, 3, 3, 3], expected input to have 3 channels"),
        InputError("in/a.png: image data is truncated or corrupt"),
        KeyboardInterrupt(),
    ],
)
def test_other_errors_are_not(exc: BaseException) -> None:
    assert not is_out_of_memory(exc)


def test_a_cycle_of_causes_ends() -> None:
    a, b = RuntimeError("a"), RuntimeError("b")
    a.__context__, b.__context__ = b, a
    assert not is_out_of_memory(a)


def test_release_memory_and_available_memory_on_cpu() -> None:
    release_memory(torch.device("cpu"))
    release_memory("cpu")
    assert available_memory(torch.device("cpu")) > 0


@pytest.mark.cuda
def test_release_memory_returns_cached_cuda_blocks() -> None:
    device = torch.device("cuda")
    block = torch.empty(64 << 20, dtype=torch.uint8, device=device)
    del block
    assert torch.cuda.memory_reserved(device) > 0
    release_memory(device)
    assert torch.cuda.memory_reserved(device) == 0
    assert available_memory(device) > 0


def test_a_long_or_odd_device_spec_is_quoted_briefly() -> None:
    from enhance.devices import resolve_device
    from enhance.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        resolve_device("x\x1b" * 100_000)  # e.g. --set device=... from a script gone wrong
    assert len(str(err.value)) < 200 and "\x1b" not in str(err.value) and "(200000 characters)" in str(err.value)
