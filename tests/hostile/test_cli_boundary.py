"""The CLI's one error boundary (infra/cli.py): expected failures are one line naming the
path, with the documented exit code; a closed pipe is quiet; a bug keeps its traceback
under an "internal error" header (exit 70). Plus the terminal-safety of printed text."""

from __future__ import annotations

import errno
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from infra import cli
from infra.commands import bmc as bmc_cmd
from infra.deploy.providers.redfish_ops import BmcError
from infra.fleet.run import facts_line, render_summary
from infra.text import printable

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(sys.executable).parent / "supercluster"


def _sh(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def _degraded_plane(tmp: Path) -> Path:
    """The dev plane with every link slow: hundreds of findings, far more output than a
    pipe holds (so a reader that stops after one line really closes it mid-stream)."""
    from infra.design import compile_design
    from infra.fabric.plane import plane_fabric
    from infra.fabric.topology import write_topology
    from infra.spec import load_spec

    design = compile_design(load_spec("dev", ROOT), stack="dev")
    path = tmp / "slow.topo"
    path.write_text(write_topology(plane_fabric(design, "p0"), rate="4xHDR"))
    return path


def test_closed_pipe_mid_output_is_quiet_with_status_141(tmp_path):
    topo = _degraded_plane(tmp_path)
    cmd = f"{CLI} fabric validate --stack dev --json --discovered {shlex.quote(str(topo))}"
    assert int(_sh(f"{cmd} | wc -c").stdout) > 256 * 1024  # beyond any pipe buffer: EPIPE
    proc = _sh(f'{cmd} | head -1; echo "status=${{PIPESTATUS[0]}}" >&2')
    assert proc.stdout == "{\n"
    assert proc.stderr.strip() == "status=141", proc.stderr


def test_reader_gone_before_any_output(tmp_path):
    """`design --json | true`: the reader exits before the design is compiled."""
    proc = _sh(f'{CLI} design --stack memphis --json | true; echo "status=${{PIPESTATUS[0]}}" >&2')
    assert proc.stderr.strip() == "status=141", proc.stderr


def test_design_json_into_head_has_no_traceback():
    """The brief's own example: small output may fit the pipe (exit 0) or not (141)."""
    proc = _sh(f'{CLI} design --stack memphis --json | head -1; echo "s=${{PIPESTATUS[0]}}" >&2')
    assert proc.stdout == "{\n"
    assert proc.stderr.strip() in ("s=0", "s=141"), proc.stderr


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(CLI), *argv, "--project-dir", str(ROOT)], capture_output=True, text=True, timeout=120
    )


def test_missing_file_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope" / "ibnet.out"
    proc = _run("fabric", "render", "--stack", "dev", "--guids-from", str(missing))
    assert proc.returncode == 2
    assert proc.stderr == f"error: --guids-from {missing}: No such file or directory\n"


def test_directory_given_as_a_file(tmp_path):
    proc = _run("fabric", "validate", "--stack", "dev", "--discovered", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr == f"error: --discovered {tmp_path}: Is a directory\n"


def test_read_only_out_dir_fails_even_as_root(tmp_path):
    """A read-only bind mount in a private mount namespace: root's permission bypass does
    not reach past a read-only mount, so the write really fails (EROFS)."""
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    render = f"{CLI} fabric render --stack dev --project-dir {ROOT} --out {ro}/fabric"
    script = (
        f"mount --bind {src} {ro} && mount -o remount,bind,ro {ro} && "
        f"touch {ro}/probe 2>/dev/null && echo WRITABLE; exec {render}"
    )
    proc = subprocess.run(
        ["unshare", "-rm", "bash", "-c", script], capture_output=True, text=True, timeout=120
    )
    assert "WRITABLE" not in proc.stdout  # the mount really is read-only
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {ro}"), lines
    assert "Read-only file system" in lines[0]
    assert not any(src.iterdir())


# --- in-process: what each kind of exception becomes ------------------------------------


def _raising(monkeypatch, exc: BaseException) -> None:
    def boom(args):
        raise exc

    monkeypatch.setattr("infra.commands.design.cmd_design", boom)


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/out/p0/opensm.conf"),
            3,
            "error: /out/p0/opensm.conf: No space left on device",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/etc/x", None, "/etc/y"),
            2,
            "error: /etc/x -> /etc/y: Permission denied",
        ),
        (
            UnicodeDecodeError("utf-8", b"ab\xff", 2, 3, "invalid start byte"),
            2,
            "error: input is not UTF-8: byte 0xff at offset 2: invalid start byte",
        ),
        (
            ValueError("'10.0.0.300' does not appear to be an IPv4 address"),
            2,
            "error: '10.0.0.300'",
        ),
        (ModuleNotFoundError("No module named 'sushy'", name="sushy"), 3, "error: the environment"),
    ],
)
def test_expected_failures_are_one_line(monkeypatch, capsys, exc, code, line):
    _raising(monkeypatch, exc)
    assert cli.main(["design", "--stack", "dev"]) == code
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_a_bug_keeps_its_traceback_under_an_internal_error_header(monkeypatch, capsys):
    _raising(monkeypatch, KeyError("a bug"))
    assert cli.main(["design", "--stack", "dev"]) == 70
    err = capsys.readouterr().err
    assert err.startswith("internal error (a bug in supercluster, exit 70)")
    assert "Traceback (most recent call last)" in err and "KeyError: 'a bug'" in err


def test_debug_env_lets_expected_failures_through(monkeypatch):
    _raising(monkeypatch, OSError(errno.ENOSPC, "No space left on device"))
    monkeypatch.setenv("SUPERCLUSTER_DEBUG", "1")
    with pytest.raises(OSError):
        cli.main(["design", "--stack", "dev"])


def test_interrupt_is_130(monkeypatch, capsys):
    _raising(monkeypatch, KeyboardInterrupt())
    assert cli.main(["design", "--stack", "dev"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_problem_lines_are_capped_and_escaped(monkeypatch, capsys):
    from infra.errors import InputError

    _raising(monkeypatch, InputError([f"p{i} \x1b[2J" for i in range(73)]))
    assert cli.main(["design", "--stack", "dev"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 51 and lines[-1] == "error: ... and 23 more problems"
    assert lines[0] == "error: p0 \\x1b[2J"


# --- printable and the print sites of node and BMC text -----------------------------------


def test_printable_escapes_every_terminal_control():
    assert printable("plain\ttext") == "plain\ttext"
    assert printable("a\x1b[31mb\x07\rc\x00") == "a\\x1b[31mb\\x07\\x0dc\\x00"
    assert printable("csi\x9b2J del\x7f") == "csi\\x9b2J del\\x7f"
    assert printable("rtl\u202eevil") == "rtl\\u202eevil"
    assert printable("two\nlines") == "two\\x0alines"
    assert printable("two\nlines", newlines=True) == "two\nlines"
    assert printable("café ✓") == "café ✓"  # printable non-ASCII is left alone


def test_facts_and_health_lines_escape_node_text():
    down = {"name": "n1", "address": "127.0.1.1", "status": "failed", "detail": "x\x1b]0;t\x07"}
    assert facts_line(down).endswith("failed: x\\x1b]0;t\\x07")
    ok = {
        "name": "n2",
        "address": "127.0.1.2",
        "status": "ok",
        "detail": "",
        "facts": {
            "gpu": {"count": 8, "models": ["H100\x1b[2J"], "driver_version": "550"},
            "hcas": [],
            "modules": [],
            "os": {"pretty_name": "Debian\r\nfake line"},
            "kernel": "6.1",
        },
    }
    line = facts_line(ok)
    assert "\x1b" not in line and "\n" not in line and "\r" not in line
    assert "H100\\x1b[2J" in line and "Debian\\x0d\\x0afake line" in line
    summary = {"ok": 0, "hosts": 1, "elapsed_s": 1.0, "failed": {"unreachable": ["n1"]}}
    text = render_summary(summary, [down])
    assert "\x1b" not in text and "x\\x1b]0;t\\x07" in text


def test_bmc_rows_and_errors_are_escaped():
    err = BmcError("127.0.2.1", "HTTP 500 Base.1.0.\x1b[2JGeneralError")
    assert "\x1b" not in str(err) and "\\x1b[2J" in err.reason
    report = {
        "stack": "dev",
        "source": "site",
        "nodes": [
            {"node": "n1", "address": "127.0.2.1", "error": "bad\x9bstuff"},
            {
                "node": "n2",
                "address": "127.0.2.2",
                "power": "On\x1b[8m",
                "boot_target": "Pxe",
                "boot_mode": "UEFI",
                "drift": {"BootMode": ["UEFI", "Legacy\nn3 ok"]},
            },
        ],
        "summary": {"nodes": 2, "in_profile": 0, "drifted": 1, "failed": 1, "wall_s": 0.1},
    }
    text = bmc_cmd.render(report)
    assert len(text.splitlines()) == 4  # header, two rows, summary: no forged line
    assert "\x1b" not in text and "\x9b" not in text
    assert "bad\\x9bstuff" in text and "On\\x1b[8m" in text and "Legacy\\x0an3 ok" in text
