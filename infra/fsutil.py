"""Writing files so that a failure or a kill never leaves a half-written output.

`atomic_write`: one file; a temp file in the target's directory, fsync, then rename.

`write_output_dir`: a command's whole output directory (export, inventory, fabric render,
plan review). Every file is rendered into a fresh temp directory beside the target (same
filesystem), flushed to disk, then swapped in with one `renameat2(RENAME_EXCHANGE)`: at
every instant the target path holds either the old output or the new one, complete, and
never a mix of two runs or nothing. (Two renames, target aside then new in place, leave a
moment with no output at all; a symlink flip would turn every output path into a symlink.)
Where the filesystem lacks RENAME_EXCHANGE (NFS, some FUSE), it falls back to the two
renames, and the next run puts an output left aside by a kill back before anything else.

It only ever replaces a directory the project generated: each output holds a marker file
(`.supercluster-output`, naming the command and stack). A path that is a file, a non-empty
directory without the marker, the output of another command, a directory that holds the
project, the working directory or a git repository, or one inside another output (which
that output's next run would delete) is refused with an InputError naming the path, before
anything is created. One exception, for outputs written before the marker existed: an
unmarked directory whose every file is one this run writes again (or keeps) is replaced,
since nothing in it is lost.

Each output has a lock (`flock` on `.<name>.lock` beside it): a second run on the same
output waits for the first (and says so on stderr), then replaces its result with its own;
both are complete outputs of their own input. Temp directories (`.<name>.tmp-*`) are
removed on every failure path; one left by a SIGKILLed run is removed by the next run,
under the lock, so it can never belong to a live run.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path, PurePosixPath

from infra.errors import InputError

MARKER = ".supercluster-output"
REPO_ROOT = Path(__file__).resolve().parents[1]
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
# renameat2 errors that mean "this kernel or filesystem cannot exchange": fall back.
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


def atomic_write(
    path: Path | str,
    data: str | bytes,
    mode: int = 0o644,
    *,
    replace: bool = True,
    durable: bool = True,
) -> None:
    """Write one file whole, `mode` from the start. The data goes into a file this call
    creates (mkstemp: O_EXCL|O_NOFOLLOW, an unguessable name, 0600), so neither a file
    planted beforehand nor a symbolic link is written through; a symbolic link at `path`
    is refused (ELOOP) rather than silently replaced. `replace=False`: FileExistsError
    rather than replace an existing path (a hard link of the temp file). `durable=False`
    skips the fsync, for scratch state that is rebuilt anyway (the simulated nodes')."""
    path = Path(path)
    if path.is_symlink():
        raise OSError(errno.ELOOP, "refusing to write over a symbolic link", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not replace:
        os.unlink(tmp)


def _hook(step: str) -> None:
    """Called between the write steps; a no-op. Fault tests replace it (see
    tests/design/test_outputs.py) to kill or interrupt the process at a given step."""


def write_output_dir(
    target: Path | str,
    files: Mapping[str, str | bytes],
    *,
    command: str,
    keep: Sequence[str] = (),
    protect: Iterable[Path] = (),
) -> Path:
    """Replace the directory `target` with exactly `files` (relative path -> content) plus
    the marker, as a whole. `command` (e.g. "export --stack dev") goes into the marker;
    its first word must match the marker of the output being replaced. `keep`: top-level
    names the site adds to the output (inventory's group_vars), copied from the old output
    into the new one. `protect`: directories (the project) that must not be replaced.
    Returns the resolved target."""
    target = Path(target).resolve()
    for rel in files:
        _check_relative(target, rel)
    protected = [
        ("the working directory", Path.cwd().resolve()),
        ("the supercluster project", REPO_ROOT),
        *(("the project", Path(p).resolve()) for p in protect),
    ]
    _refuse_unsafe(target, command, files, keep, protected)  # before creating anything
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _output_lock(target):
            _recover_aside(target)
            _remove_leftovers(target)
            _refuse_unsafe(target, command, files, keep, protected)  # again, under the lock
            _hook("locked")
            new = _stage(target, files, _marker_text(command, keep), keep)
            _swap_in(new, target)
            _hook("done")
    except OSError as exc:
        where = exc.filename or target
        raise InputError([f"{where}: cannot write the output: {exc.strerror or exc}"]) from exc
    return target


def _check_relative(target: Path, rel: str) -> None:
    parts = PurePosixPath(rel).parts
    if not parts or parts[0] == "/" or ".." in parts or rel == MARKER:
        raise InputError([f"{target}: refusing to write {rel!r}: not a path inside the output"])


def _marker_text(command: str, keep: Sequence[str]) -> str:
    kept = f"\n# Kept across runs (the site's own): {', '.join(keep)}" if keep else ""
    return (
        f"supercluster {command}\n"
        "# Generated output: the next run replaces this directory as a whole; "
        f"put nothing else here.{kept}\n"
    )


def _marker_command(directory: Path) -> str | None:
    """The marker's command line, or None where the directory has no marker."""
    marker = directory / MARKER
    if marker.is_symlink() or not marker.is_file():
        return None
    first = marker.read_text(errors="replace").splitlines()[:1]
    return first[0].strip() if first else ""


def _refuse_unsafe(
    target: Path,
    command: str,
    files: Mapping[str, str | bytes],
    keep: Sequence[str],
    protected: list[tuple[str, Path]],
) -> None:
    """Raise InputError if replacing `target` could destroy anything not generated."""
    problem = _why_unsafe(target, command, files, keep, protected)
    if problem:
        raise InputError([f"{target}: {problem}"])


def _why_unsafe(target, command, files, keep, protected) -> str | None:
    if os.path.lexists(target) and not target.is_dir():
        return "exists and is not a directory; choose a directory for the output"
    for label, p in protected:
        if target == p:
            return f"is {label}; choose another output directory"
        if target in p.parents:
            return f"holds {label} ({p}); choose another output directory"
    for parent in target.parents:
        line = _marker_command(parent)
        if line is not None:
            return f"is inside {parent}, the output of `{line}`, which replaces it as a whole"
    if not target.is_dir() or not any(target.iterdir()):
        return None
    if (target / ".git").exists():
        return "holds a git repository; choose another output directory"
    line = _marker_command(target)
    if line is None:
        foreign = _first_foreign(target, files, keep)
        if foreign is None:
            return None  # an output written before the marker existed: nothing is lost
        return (
            f"not an output of supercluster (no {MARKER}) and holds {foreign}; "
            "move it away or choose another output directory"
        )
    if line.split()[1:2] != command.split()[:1]:
        return f"holds the output of `{line}`; choose another output directory"
    return None


def _first_foreign(target: Path, files: Mapping[str, str | bytes], keep: Sequence[str]):
    """The first file under `target` that this run would neither write again nor keep."""
    written = {PurePosixPath(rel) for rel in files}
    dirs = {d for rel in written for d in rel.parents}
    for root, subdirs, names in os.walk(target):
        here = PurePosixPath(Path(root).relative_to(target).as_posix())
        for name in sorted(names) + sorted(subdirs):
            rel = here / name
            if rel.parts[0] in keep or rel in written or rel in dirs:
                continue
            return target / rel
    return None


@contextmanager
def _output_lock(target: Path) -> Iterator[None]:
    """Hold `.<name>.lock` beside the output; wait (saying so) if another run holds it.
    The lock file stays: removing it would let a third run lock a fresh inode."""
    path = target.parent / f".{target.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for {path}: another run is writing {target}", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _tmp_prefix(target: Path) -> str:
    return f".{target.name}.tmp-"


def _leftovers(target: Path, kind: str = "") -> list[Path]:
    prefix = _tmp_prefix(target) + kind
    return sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix))


def _remove_leftovers(target: Path) -> None:
    """Temp directories of killed runs (only ever created under this lock)."""
    for path in _leftovers(target):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _recover_aside(target: Path) -> None:
    """A run killed between the fallback's two renames left the old output aside and no
    output in place: put it back, so the old output is what a failure leaves."""
    aside = _leftovers(target, "aside-")
    if aside and not os.path.lexists(target):
        os.rename(aside[-1], target)


def _stage(
    target: Path, files: Mapping[str, str | bytes], marker: str, keep: Sequence[str]
) -> Path:
    """A complete new output beside the target, on disk before it is swapped in."""
    new = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target) + "new-", dir=target.parent))
    try:
        for rel, data in files.items():
            _put(new / rel, data)
            _hook("staging")
        _put(new / MARKER, marker)
        for name in keep:
            _carry(target / name, new / name)
        os.chmod(new, target.stat().st_mode & 0o7777 if target.is_dir() else 0o755)
        _sync_filesystem(new)
        _hook("staged")
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    return new


def _put(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    os.chmod(path, 0o644)


def _carry(src: Path, dst: Path) -> None:
    """Copy what the site keeps in the output; a file this run generated wins. A copy, not
    a move: a kill before the swap must leave the old output whole."""
    if src.is_symlink() or src.is_file():
        if not os.path.lexists(dst):
            shutil.copy2(src, dst, follow_symlinks=False)
    elif src.is_dir():

        def copy_unless_generated(s: str, d: str) -> None:
            if not os.path.lexists(d):
                shutil.copy2(s, d, follow_symlinks=False)

        shutil.copytree(
            src, dst, symlinks=True, dirs_exist_ok=True, copy_function=copy_unless_generated
        )


def _sync_filesystem(path: Path) -> None:
    """Flush the staged files before the swap. One syncfs instead of an fsync per file:
    a large site's inventory is 12,500 files, and per-file fsyncs cost a journal commit
    each."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syncfs = getattr(_libc(), "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(new: Path, target: Path) -> None:
    """Put `new` in place of `target`; whatever is left at `new` is then removed."""
    try:
        if not os.path.lexists(target):
            os.rename(new, target)
        else:
            try:
                _exchange(new, target)
            except OSError as exc:
                if exc.errno not in _NO_EXCHANGE:
                    raise
                _replace_in_two_steps(new, target)
            _hook("swapped")
        _fsync_dir(target.parent)
    finally:
        shutil.rmtree(new, ignore_errors=True)  # the old output, or the unused new one


def _replace_in_two_steps(new: Path, target: Path) -> None:
    """Without RENAME_EXCHANGE: the old output aside (under a unique name that
    `_recover_aside` knows), then the new one in place, then the old one removed."""
    aside = Path(tempfile.mkdtemp(prefix=_tmp_prefix(target) + "aside-", dir=target.parent))
    os.rename(target, aside)  # over the empty reserved directory: atomic
    try:
        _hook("aside")
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside)


@cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _exchange(a: Path, b: Path) -> None:
    """renameat2(a, b, RENAME_EXCHANGE): both paths swap, atomically (Linux 3.15+)."""
    fn = getattr(_libc(), "renameat2", None)
    if fn is None:
        raise OSError(errno.ENOSYS, "renameat2 is not in this C library")
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))
