"""The GUID plan: deterministic 64-bit GUIDs derived from device names.

Scheme (documented in docs/fabric.md): blake2b-64 of the name, then
- the top byte is replaced by a type tag, 0x5c for switches and 0x5a for channel
  adapters (HCAs), so a GUID says what it names and switch/HCA GUIDs never collide;
- the low nibble is cleared: port GUID = node GUID + port number (ibsim's and the
  ConnectX convention), so a port GUID never equals another node's GUID.
These GUIDs are what the simulated fabric carries and what OpenSM's root/compute-node
files list for it. Real hardware has burned-in GUIDs: for a real subnet, render the
OpenSM files from a discovered topology (`fabric render --guids-from FILE`), which
maps node descriptions to the GUIDs the fabric actually reports.
"""

from __future__ import annotations

import hashlib

SWITCH_TAG = 0x5C
CA_TAG = 0x5A
_LOW_52 = (1 << 56) - 1


def derive_guid(name: str, tag: int) -> int:
    """Node GUID for `name`: type tag in the top byte, hash in the middle, low nibble 0."""
    digest = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big")
    return (tag << 56) | (digest & _LOW_52 & ~0xF)


def switch_guid(name: str) -> int:
    return derive_guid(name, SWITCH_TAG)


def ca_guid(desc: str) -> int:
    """Node GUID of a single-port HCA, from its node description ("<host> mlx5_<rail>")."""
    return derive_guid(desc, CA_TAG)


def port_guid(node_guid: int, port: int) -> int:
    return node_guid + port


def hex_guid(guid: int) -> str:
    return f"0x{guid:016x}"
