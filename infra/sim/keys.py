"""SSH key pairs for the simulated fleet, made in-process (no ssh-keygen per node), so 64
nodes get their host keys in milliseconds."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.fsutil import atomic_write


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
    """A private key, 0600 from the start, never through a planted file or a symlink."""
    atomic_write(path, data, 0o600)
