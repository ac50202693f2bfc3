"""Generated files as Pulumi resources: the cabling plan, OpenSM configuration and the
inventory data of a stack, written atomically and diffed by content hash.

An artifact's inputs are its path, the sha256 of its content and how to render it:
`renderer` names a function in RENDERERS and `args` are its arguments. Small files carry
their text inline (renderer "inline"); large ones (a memphis plane's cabling plan is ~5 MB)
are rendered again by the provider from the stack's spec (renderer "cabling_plan"), so the
state holds a hash and a few names instead of megabytes. The provider re-renders on
create/update and refuses to write when the content no longer has the hash the preview
showed (the spec changed in between): a preview is what gets applied, or nothing is.

- create/update: render, check the hash, write atomically (temp file + rename)
- read: what is on disk now (hash and size), or gone when the file is missing
- diff: the wanted hash against the recorded one *and* against the file on disk, so an
  edited or deleted file shows up in the next preview as drift; a new path replaces
- delete: removes the file (an already missing file is not an error)

The provider is stateless and picklable (dill serializes it into the state), so the same
shape serves device endpoints later: `observe` reads the real thing, `apply` converges it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from infra.fsutil import atomic_write


class ArtifactError(Exception):
    """The rendered content does not match the planned hash (the spec changed)."""


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _inline(args: dict[str, Any]) -> str:
    return args["text"]


@lru_cache(maxsize=4)
def _design(spec_stack: str, project_dir: str):
    # Imported here: the inline renderer must not pay for the design compiler.
    from infra.design import compile_design
    from infra.spec import load_spec

    return compile_design(load_spec(spec_stack, Path(project_dir)), stack=spec_stack)


@lru_cache(maxsize=4)
def _cabling_plans(spec_stack: str, project_dir: str) -> dict[str, str]:
    from infra.deploy.render import cabling_plans

    return cabling_plans(_design(spec_stack, project_dir))


def _cabling_plan(args: dict[str, Any]) -> str:
    return _cabling_plans(args["spec_stack"], args["project_dir"])[args["plane"]]


def _nvue_bundle(args: dict[str, Any]) -> str:
    from infra.deploy.render import nvue_bundle

    return nvue_bundle(_design(args["spec_stack"], args["project_dir"]))


RENDERERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "inline": _inline,
    "cabling_plan": _cabling_plan,
    "nvue_bundle": _nvue_bundle,  # a Spectrum-X fabric's switch configurations
}


def render(renderer: str, args: dict[str, Any]) -> str:
    return RENDERERS[renderer](args)


def file_hash(path: str) -> str | None:
    """sha256 of the file on disk, None when it does not exist."""
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


class ArtifactProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        path = news.get("path")
        if not isinstance(path, str) or not Path(path).is_absolute():
            failures.append(CheckFailure("path", f"must be an absolute file path, got {path!r}"))
        if news.get("renderer") not in RENDERERS:
            failures.append(
                CheckFailure(
                    "renderer", f"must be one of {sorted(RENDERERS)}, got {news.get('renderer')!r}"
                )
            )
        sha = news.get("sha256")
        if not isinstance(sha, str) or len(sha) != 64:
            failures.append(CheckFailure("sha256", "must be a hex sha256 digest"))
        return CheckResult(news, failures)

    def _write(self, props: dict[str, Any]) -> dict[str, Any]:
        text = render(props["renderer"], props["args"])
        got = sha256_text(text)
        if got != props["sha256"]:
            raise ArtifactError(
                f"{props['path']}: rendered content has sha256 {got[:12]}, the plan expected "
                f"{props['sha256'][:12]}; the spec changed since the preview, run it again"
            )
        atomic_write(props["path"], text)
        return {**props, "bytes": len(text.encode())}

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["path"], outs=self._write(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        on_disk = file_hash(id_)
        if on_disk is None:
            return ReadResult(None, {})  # gone: the engine drops it from the state
        size = Path(id_).stat().st_size
        return ReadResult(id_, {**props, "path": id_, "sha256": on_disk, "bytes": size})

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in ("sha256", "path") if olds.get(k) != news.get(k)]
        if "sha256" not in changed and file_hash(id_) != news.get("sha256"):
            changed.append("sha256")  # drift: the file was edited or removed behind us
        replaces = ["path"] if "path" in changed else []
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[] if replaces else ["path"],
            delete_before_replace=False,
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._write(news))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        Path(id_).unlink(missing_ok=True)


class Artifact(Resource, module="artifact", name="Artifact"):
    """A generated file. Outputs: path, sha256, bytes."""

    path: pulumi.Output[str]
    sha256: pulumi.Output[str]
    bytes: pulumi.Output[int]

    def __init__(
        self,
        name: str,
        *,
        path: str,
        sha256: str,
        renderer: str = "inline",
        args: dict[str, Any] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "path": path,
            "sha256": sha256,
            "renderer": renderer,
            "args": args or {},
            "bytes": None,
        }
        super().__init__(ArtifactProvider(), name, props, opts)


def inline(name: str, path: Path, text: str, opts: pulumi.ResourceOptions) -> Artifact:
    """An artifact whose text travels in its inputs (small files only)."""
    return Artifact(name, path=str(path), sha256=sha256_text(text), args={"text": text}, opts=opts)
