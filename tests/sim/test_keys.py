"""Private keys are written 0600 into a file the writer itself creates: never through a
symbolic link or a file someone planted beforehand, and no temp file is left behind."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from infra.sim.keys import ed25519_pair, write_private

KEY = ed25519_pair("test")[0]


def test_a_new_key_is_0600_from_the_start(tmp_path: Path):
    old = os.umask(0)  # even with nothing masked, the key is never more than 0600
    try:
        write_private(tmp_path / "id", KEY)
    finally:
        os.umask(old)
    st = (tmp_path / "id").lstat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert (tmp_path / "id").read_bytes() == KEY
    assert os.listdir(tmp_path) == ["id"]


def test_a_symlink_at_the_target_is_refused(tmp_path: Path):
    victim = tmp_path / "victim"
    link = tmp_path / "id"
    link.symlink_to(victim)
    with pytest.raises(OSError) as caught:
        write_private(link, KEY)
    assert caught.value.errno == errno.ELOOP and caught.value.filename == str(link)
    assert not victim.exists() and link.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["id"]


def test_a_planted_file_or_temp_link_is_not_written_through(tmp_path: Path):
    """Someone else's world-readable file at the target, and a link at the temp name the
    writer used to use (`<name>.tmp`): the key lands in a new 0600 file of ours."""
    target = tmp_path / "id"
    target.write_text("planted\n")
    target.chmod(0o644)
    os.chown(target, 65534, 65534)
    planted_inode = target.lstat().st_ino
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    (tmp_path / "id.tmp").symlink_to(victim)
    write_private(target, KEY)
    st = target.lstat()
    assert st.st_ino != planted_inode
    assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, os.geteuid())
    assert target.read_bytes() == KEY
    assert victim.read_text() == "untouched\n"
    assert sorted(os.listdir(tmp_path)) == ["id", "id.tmp", "victim"]


def test_a_failed_rename_leaves_no_temp_file(tmp_path: Path):
    (tmp_path / "id").mkdir()  # a directory where the key should go: the rename fails
    with pytest.raises(IsADirectoryError):
        write_private(tmp_path / "id", KEY)
    assert os.listdir(tmp_path) == ["id"]


def test_every_sim_writer_refuses_a_planted_link(tmp_path: Path):
    """The BMC credentials, the fleet's client files and configure's private files go
    through the one atomic writer, so a link planted where they go is refused too."""
    from infra.nodes.configure import _write_private
    from infra.sim.bmc import _write_secret
    from infra.sim.fleet import _write_text

    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    writers = {
        "credentials.json": lambda p: _write_secret(p, {"password": "x"}),
        "known_hosts": lambda p: _write_text(p, "node01 ssh-ed25519 AAAA\n"),
        "retry.txt": lambda p: _write_private(p, "node01\n"),
    }
    for name, write in writers.items():
        (tmp_path / name).symlink_to(victim)
        with pytest.raises(OSError) as caught:
            write(tmp_path / name)
        assert caught.value.errno == errno.ELOOP, name
    assert victim.read_text() == "untouched\n"
    assert sorted(os.listdir(tmp_path)) == sorted([*writers, "victim"])
