"""The environment a child process gets: a minimal, explicit one.

Operators export secrets (PULUMI_CONFIG_PASSPHRASE, SUPERCLUSTER_BMC_PASSWORD, cloud
tokens) into the shell that runs `supercluster`. A child that inherits the whole
environment carries them on to its own children and into whatever it records: ansible-
runner saves its child's environment in `artifacts/.../command`, a simulated node's sshd
would hold them, a log might print them. So every child that does not need a secret
starts from `minimal()`: where programs are, whose home, which locale and temp dir, and
what the caller adds explicitly. The one exception is the Pulumi engine (infra/
automation.py), which needs the passphrase and the BMC credentials' fallback.
"""

from __future__ import annotations

import os

# What a child may take from the caller: none of it is a secret, and programs misbehave
# without it (ssh and Ansible need HOME, Python and Ansible a UTF-8 locale, temp files
# belong where the caller put TMPDIR).
BASE_VARS = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
)
# A caller without PATH (a bare cron job, a systemd unit) still finds mount, ssh, git.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def minimal(*passthrough: str, **values: str) -> dict[str, str]:
    """BASE_VARS and `passthrough` as the caller has them (absent ones stay absent), then
    `values`; PATH always set (the system default when the caller has none)."""
    env = {k: os.environ[k] for k in (*BASE_VARS, *passthrough) if k in os.environ}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(values)
    return env
