"""SSH key pairs for the simulated fleet, made in-process (no ssh-keygen per node), so 64
nodes get their host keys in milliseconds."""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def ed25519_pair(comment: str) -> tuple[bytes, str]:
    """(OpenSSH private key PEM, `ssh-ed25519 AAAA... comment` public line)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return private, f"{public.decode()} {comment}"


def write_private(path: Path, data: bytes) -> None:
    """Write a private key 0600 from the start (see write_exclusive)."""
    write_exclusive(path, data, 0o600)


def write_exclusive(path: Path, data: bytes, mode: int) -> None:
    """Write `data` with `mode` from the start, into a file this call creates: O_EXCL and
    O_NOFOLLOW under an unguessable name, so neither a file planted beforehand (whose owner
    and mode someone else chose, kept by O_TRUNC) nor a symbolic link (which would carry
    the data elsewhere) is written through. It then replaces `path` in one rename; a
    symbolic link at `path` is refused rather than silently replaced."""
    path = Path(path)
    if path.is_symlink():
        raise OSError(
            errno.ELOOP, "refusing to write a key or certificate over a symlink", str(path)
        )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
