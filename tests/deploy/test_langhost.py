"""The project's Python language host (infra/deploy/langhost.py) as the engine starts it: the
installed `pulumi-language-python` prints its port, answers over gRPC, runs a plugin with
its output streamed back, and ends quietly when the engine signals it."""

from __future__ import annotations

import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import grpc
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import language_pb2, language_pb2_grpc

from infra.deploy.langhost import exec_args

ENGINE_DIR = Path(sys.executable).parent.parent / "lib" / "pulumi-engine"


def _request(**kw) -> language_pb2.RunRequest:
    info = language_pb2.ProgramInfo(
        root_directory="/p", program_directory="/p/infra", entry_point="."
    )
    return language_pb2.RunRequest(info=info, **kw)


def test_run_passes_the_go_hosts_flags_to_the_sdk_runner() -> None:
    req = _request(
        project="supercluster",
        stack="dev",
        pwd="/p/infra",
        dryRun=True,
        parallel=16,
        monitor_address="127.0.0.1:1",
        organization="organization",
        args=["x"],
    )
    args = exec_args(req, "127.0.0.1:2", "/e/pulumi-language-python-exec")
    assert args[:3] == [sys.executable, "-u", "/e/pulumi-language-python-exec"]
    flags = dict(zip(args[3:-2:2], args[4:-2:2], strict=True))
    assert flags == {
        "--monitor": "127.0.0.1:1",
        "--engine": "127.0.0.1:2",
        "--project": "supercluster",
        "--stack": "dev",
        "--pwd": "/p/infra",
        "--dry_run": "true",
        "--parallel": "16",
        "--organization": "organization",
        "--root_directory": "/p",
    }
    assert args[-2:] == ["/p/infra", "x"]  # main: infra/ -> its __main__.py
    preview = exec_args(_request(), "e", "x")
    assert preview[preview.index("--dry_run") + 1] == "false"


@pytest.fixture
def host():
    proc = subprocess.Popen(
        [str(ENGINE_DIR / "pulumi-language-python"), "127.0.0.1:9"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    port = int(proc.stdout.readline())
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield proc, language_pb2_grpc.LanguageRuntimeStub(channel)
    finally:
        channel.close()
        proc.kill()
        proc.wait()


def test_host_answers_and_streams_a_plugin(host, tmp_path) -> None:
    proc, stub = host
    info = stub.GetPluginInfo(empty_pb2.Empty(), timeout=10)
    assert info.version == metadata.version("pulumi")
    plugin = tmp_path / "pack"
    plugin.mkdir()
    (plugin / "__main__.py").write_text(
        "import sys\nprint('port 1234', flush=True)\nprint('oops', file=sys.stderr)\nsys.exit(3)\n"
    )
    req = language_pb2.RunPluginRequest(
        pwd=str(tmp_path),
        args=["a1"],
        info=language_pb2.ProgramInfo(
            root_directory=str(plugin), program_directory=str(plugin), entry_point="."
        ),
    )
    out, err, code = b"", b"", None
    for msg in stub.RunPlugin(req, timeout=30):
        out += msg.stdout
        err += msg.stderr
        if msg.WhichOneof("output") == "exitcode":
            code = msg.exitcode
    assert (out, err, code) == (b"port 1234\n", b"oops\n", 3)
    proc.send_signal(signal.SIGINT)  # how the engine ends its plugins
    assert proc.wait(timeout=10) == 0
    assert "Traceback" not in proc.stderr.read()
