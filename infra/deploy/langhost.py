"""The Python language host the Pulumi engine starts as `pulumi-language-python`.

The engine runs a Python program, and a Python policy pack, through a language host: a
gRPC server (pulumirpc.LanguageRuntime) that prints its port and serves until the engine
kills it. Pulumi's own host is a Go program in the module
github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, which the Go module
proxy refuses here at every version; the last sdk/v3 release that still carried it
(v3.68.0) builds, but engine 3.274 no longer sends the policy pack's path in
RunPluginRequest.program, so that host cannot start a policy pack (docs/pulumi.md).

This host does what the project needs, with the SDK's own parts:
- Run: the program through `pulumi-language-python-exec` (the pinned SDK's runner, beside
  this script) with this interpreter, config in PULUMI_CONFIG as the Go host passes it;
- RunPlugin: a policy pack (`python <pack dir>`), its output streamed back;
- GetRequiredPlugins/Packages: resource plugins that installed packages declare in a
  pulumi-plugin.json (none here: dynamic providers are bundled with the engine);
- About, GetProgramDependencies, GetPluginInfo, Handshake; InstallDependencies says that
  the venv comes from requirements.lock.
The interpreter is always the one running this host (the project's .venv): no PATH lookup.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import grpc
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

EXEC_NAME = "pulumi-language-python-exec"
# The exec script's code for "the error was already shown to the user": bail quietly.
EXIT_SHOWN_TO_USER = 32
_MAX_MESSAGE = 400 * 1024 * 1024  # what the Python SDK allows its own gRPC channels


def _sdk_version() -> str:
    return metadata.version("pulumi")


def _program_path(req) -> str:
    """The program to run: ProgramInfo's entry point (engine 3.x) or the legacy field."""
    info = req.info
    if info.program_directory:
        return str(Path(info.program_directory, info.entry_point or "."))
    return req.program or "."


def exec_args(req, engine: str, exec_path: str) -> list[str]:
    """The runner's command line for a RunRequest (the Go host's flags, same order)."""
    args = [sys.executable, "-u", exec_path]
    flags = {
        "monitor": req.monitor_address,
        "engine": engine,
        "project": req.project,
        "stack": req.stack,
        "pwd": req.pwd,
        "dry_run": "true" if req.dryRun else "false",
        "parallel": str(req.parallel),
        "organization": req.organization,
        "root_directory": req.info.root_directory,
    }
    for key, value in flags.items():
        if value:
            args += [f"--{key}", value]
    return [*args, _program_path(req), *req.args]


@lru_cache(maxsize=1)
def resource_plugins() -> tuple[dict[str, str], ...]:
    """Resource plugins declared by installed packages (pulumi-plugin.json), as the Go
    host reports them; the engine would fetch missing ones (disabled here). Read once:
    the engine asks on every operation, and the venv does not change under a host."""
    found = []
    for dist in metadata.distributions():
        for f in dist.files or ():
            if f.name != "pulumi-plugin.json":
                continue
            try:
                spec = json.loads(f.read_text() or "{}")
            except (OSError, ValueError):
                continue
            if spec.get("resource"):
                found.append(
                    {
                        "kind": "resource",
                        "name": spec.get("name", dist.metadata["Name"]),
                        "version": spec.get("version", dist.version),
                        "server": spec.get("server", ""),
                    }
                )
    return tuple(found)


class Children:
    """The programs and plugins this host started: when the host goes (the engine ended
    it, or died), they go too, instead of running on as orphans."""

    def __init__(self) -> None:
        self._procs: set[subprocess.Popen] = set()
        self._lock = threading.Lock()

    def add(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.add(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def run(self, proc: subprocess.Popen) -> int:
        self.add(proc)
        try:
            return proc.wait()
        finally:
            self.discard(proc)

    def kill_all(self) -> None:
        with self._lock:
            for proc in self._procs:
                proc.kill()


_CHILDREN = Children()


class PythonHost(language_pb2_grpc.LanguageRuntimeServicer):
    def __init__(self, engine: str, exec_path: str) -> None:
        self.engine = engine
        self.exec_path = exec_path

    def Handshake(self, request, context):
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request, context):
        return plugin_pb2.PluginInfo(version=_sdk_version())

    def GetRequiredPlugins(self, request, context):
        plugins = [plugin_pb2.PluginDependency(**p) for p in resource_plugins()]
        return language_pb2.GetRequiredPluginsResponse(plugins=plugins)

    def GetRequiredPackages(self, request, context):
        packages = [plugin_pb2.PackageDependency(**p) for p in resource_plugins()]
        return language_pb2.GetRequiredPackagesResponse(packages=packages)

    def Run(self, request, context):
        env = dict(os.environ)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        # stdout/stderr are the host's own: the engine shows them as the program's output.
        code = _CHILDREN.run(
            subprocess.Popen(exec_args(request, self.engine, self.exec_path), env=env)
        )
        if code == 0:
            return language_pb2.RunResponse()
        if code == EXIT_SHOWN_TO_USER:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"program exited with non-zero exit code: {code}")

    def RunPlugin(self, request, context):
        program = _program_path(request)
        env = dict(e.split("=", 1) for e in request.env if "=" in e) or dict(os.environ)
        proc = subprocess.Popen(
            [sys.executable, "-u", program, *request.args],
            cwd=request.pwd or None,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        context.add_callback(proc.kill)  # the engine hung up: stop the plugin too
        _CHILDREN.add(proc)
        try:
            yield from _stream(proc)
        finally:
            _CHILDREN.discard(proc)

    def InstallDependencies(self, request, context):
        yield language_pb2.InstallDependenciesResponse(
            stdout=b"Python packages come from requirements.lock: run scripts/setup.sh\n"
        )

    def About(self, request, context):
        return language_pb2.AboutResponse(
            executable=sys.executable,
            version=platform.python_version(),
            metadata={"host": "supercluster infra/deploy/langhost.py"},
        )

    def GetProgramDependencies(self, request, context):
        deps = sorted({(d.metadata["Name"], d.version) for d in metadata.distributions()})
        return language_pb2.GetProgramDependenciesResponse(
            dependencies=[language_pb2.DependencyInfo(name=n, version=v) for n, v in deps]
        )


def _stream(proc: subprocess.Popen):
    """RunPluginResponse messages: stdout and stderr chunks as they come, then the exit code."""
    chunks: queue.Queue = queue.Queue()

    def pump(pipe, field: str) -> None:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            chunks.put((field, chunk))
        chunks.put((field, None))

    for pipe, field in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(target=pump, args=(pipe, field), daemon=True).start()
    open_pipes = 2
    while open_pipes:
        field, chunk = chunks.get()
        if chunk is None:
            open_pipes -= 1
        else:
            yield language_pb2.RunPluginResponse(**{field: chunk})
    yield language_pb2.RunPluginResponse(exitcode=proc.wait())


def _exit_with_parent() -> None:
    # The engine kills its plugins when it ends; should it die first, follow it.
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(1)
    _CHILDREN.kill_all()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    positional = [a for a in argv if not a.startswith("-")]
    engine = positional[-1] if positional else ""
    exec_path = str(Path(sys.argv[0]).resolve().parent / EXEC_NAME)
    if not Path(exec_path).is_file():
        print(
            f"pulumi-language-python: {exec_path} is missing: run scripts/setup.sh", file=sys.stderr
        )
        return 3
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
        ],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(PythonHost(engine, exec_path), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)  # the engine reads the port from our first line
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # how the engine ends its plugins
        signal.signal(sig, lambda *_: stopped.set())
    stopped.wait()
    _CHILDREN.kill_all()
    server.stop(grace=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
