"""enhance.files: atomic writes, enhance's own temporary names, stale-temp cleanup, the folder lock."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from enhance import files
from enhance.errors import ConfigError
from enhance.files import (
    TEMP_MARKER,
    atomic_output,
    atomic_symlink,
    atomic_write_bytes,
    atomic_write_text,
    is_temp_name,
    lock_folder,
    remove_stale_temps,
)

from .outfolders import deny_writes_in, held_by_another_process

LONGEST = "n" * 251 + ".png"  # 255 bytes: the longest name ext4, xfs, btrfs and tmpfs accept


def temp_like(folder: Path, suffix: str = "") -> Path:
    """A file named exactly as an interrupted enhance write leaves it."""
    path = folder / f"{TEMP_MARKER}-{'0123456789abcdef' * 2}{suffix}"
    path.write_bytes(b"partial")
    return path


# -- temporary names ---------------------------------------------------------------------------


def test_a_name_at_the_file_system_limit_is_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / LONGEST
    assert len(os.fsencode(target.name)) == 255
    with atomic_output(target) as temp:
        assert temp.parent == tmp_path and temp.name.startswith(".") and is_temp_name(temp.name)
        assert len(temp.name) == len(TEMP_MARKER) + 1 + 32  # fixed length, whatever the target's name
        temp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    atomic_write_bytes(target, b"again")
    assert target.read_bytes() == b"again"
    assert sorted(p.name for p in tmp_path.iterdir()) == [LONGEST]


def test_a_temporary_name_can_keep_the_targets_suffix(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "model.safetensors", keep_suffix=True) as temp:
        assert temp.suffix == ".safetensors" and is_temp_name(temp.name)
        temp.write_bytes(b"x")


@pytest.mark.parametrize(
    ("name", "ours"),
    [
        (f"{TEMP_MARKER}-{'a' * 32}", True),
        (f"{TEMP_MARKER}-{'a' * 32}.png", True),
        ("holiday.enhance-tmp.png", False),
        (f"holiday{TEMP_MARKER}-{'a' * 32}", False),
        (f"{TEMP_MARKER}-{'a' * 31}", False),
        (f"{TEMP_MARKER}-{'A' * 32}", False),
        (f"{TEMP_MARKER}-{'a' * 32}.png.bak", False),
        (f".x.png.deadbeef{TEMP_MARKER}", False),  # the old scheme's names are no longer ours to delete
        (TEMP_MARKER, False),
    ],
)
def test_is_temp_name_matches_only_enhances_own_names(name: str, ours: bool) -> None:
    assert is_temp_name(name) is ours


def test_an_error_in_the_block_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "manifest.json"
    atomic_write_text(target, "first\r\n")
    assert target.read_bytes() == b"first\r\n"  # written as given
    with pytest.raises(ValueError), atomic_output(target) as temp:
        temp.write_text("half")
        raise ValueError("serialiser failed")
    assert target.read_bytes() == b"first\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json"]


def test_atomic_symlink_swaps_a_file_or_link_for_the_link(tmp_path: Path) -> None:
    source, other = tmp_path / "a.png", tmp_path / "b.png"
    source.write_bytes(b"a")
    other.write_bytes(b"b")
    place = tmp_path / "out" / LONGEST
    atomic_symlink(other, place)
    atomic_symlink(source, place)  # an earlier link is replaced, not written through
    assert place.is_symlink() and place.read_bytes() == b"a" and other.read_bytes() == b"b"
    place.unlink()
    place.write_bytes(b"copy")
    atomic_symlink(source, place)
    assert place.is_symlink() and place.read_bytes() == b"a"
    assert sorted(p.name for p in place.parent.iterdir()) == [LONGEST]


# -- stale temporary files ---------------------------------------------------------------------


def test_stale_cleanup_removes_only_enhances_own_temp_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [temp_like(out), temp_like(out / "sub", ".png")]
    keep = {
        out / "holiday.enhance-tmp.png": b"a photo",
        out / f"x.png{TEMP_MARKER}-crash": b"a user's file",
        out / "sub" / f".x.png.deadbeef{TEMP_MARKER}": b"another",
    }
    for path, data in keep.items():
        path.write_bytes(data)
    victim = tmp_path / "elsewhere.png"  # a temp-named link pointing out: the link goes, never its target
    victim.write_bytes(b"precious")
    link = out / f"{TEMP_MARKER}-{'f' * 32}"
    link.symlink_to(victim)
    stale.append(link)
    folder = out / f"{TEMP_MARKER}-{'e' * 32}"  # a folder with a temp name is never removed
    folder.mkdir()
    (folder / "inside.png").write_bytes(b"kept")

    assert sorted(remove_stale_temps(out)) == sorted(stale)
    assert all(not os.path.lexists(p) for p in stale)
    assert {p: p.read_bytes() for p in keep} == keep
    assert victim.read_bytes() == b"precious" and (folder / "inside.png").read_bytes() == b"kept"
    assert not (out / files.LOCK_NAME).exists()  # cleanup took the folder's lock and let it go


def test_stale_cleanup_spares_a_folder_another_command_holds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "theirs").mkdir(parents=True)
    mine, theirs = temp_like(out), temp_like(out / "theirs")
    with held_by_another_process(out / "theirs"):  # a command writing into a folder inside ours
        assert remove_stale_temps(out) == [mine]
        assert theirs.exists()
        with pytest.raises(ConfigError, match="another enhance command"):
            remove_stale_temps(out / "theirs")
    with held_by_another_process(tmp_path):  # ... or into a folder above ours
        assert remove_stale_temps(out / "theirs") == [] and theirs.exists()
    assert remove_stale_temps(out) == [theirs]


# -- the folder lock ---------------------------------------------------------------------------


def test_a_folder_held_by_another_process_is_refused_naming_it_until_that_process_dies(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with held_by_another_process(out) as holder:
        message = (
            rf"-o {re.escape(str(out))}: another enhance command "
            rf"\(pid {holder.pid}, started 2024-01-01T00:00:00\+00:00\) is writing into this folder; "
            "wait for it to finish or choose another -o"
        )
        with pytest.raises(ConfigError, match=message):
            lock_folder(out, "enhance run")
        holder.kill()  # SIGKILL: no clean-up of its own, the kernel lets the lock go
        holder.wait()
        with lock_folder(out, "enhance run") as lock:
            assert lock.held and f'"pid": {os.getpid()}' in (out / files.LOCK_NAME).read_text()
    assert os.listdir(out) == []  # the lock file goes with the lock


def test_a_second_lock_in_the_same_process_conflicts_and_created_folders_go_when_unused(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    with lock_folder(out):
        with pytest.raises(ConfigError, match=rf"another enhance command \(pid {os.getpid()},"):
            lock_folder(out)
        (out / "kept.txt").write_text("something was written")
    assert (out / "kept.txt").exists()
    (out / "kept.txt").unlink()
    with lock_folder(out):
        pass
    assert out.exists()  # it existed before this lock: never removed
    out.rmdir()
    out.parent.rmdir()
    with lock_folder(out):
        pass
    assert not (tmp_path / "new").exists()  # a usage error after the lock leaves no empty folder behind


@pytest.mark.parametrize(("code", "reason"), [(errno.EROFS, "Read-only file system"), (errno.EPERM, "not permitted")])
def test_a_folder_that_refuses_writes_is_refused_at_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, reason: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    deny_writes_in(out, monkeypatch, code)
    with pytest.raises(ConfigError, match=rf"-o .*out: cannot write into the output folder \(.*{reason}.*\); make it"):
        lock_folder(out)


def test_a_file_or_an_impossible_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a folder"):
        lock_folder(tmp_path / "file")
    with pytest.raises(ConfigError, match=r"cannot create the output folder \(.+\); choose another -o"):
        lock_folder(tmp_path / "file" / "sub")
