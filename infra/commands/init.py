"""`supercluster init --preset superpod --sus N --stack NAME`: write a reference stack."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from infra.commands import stack_name
from infra.errors import InputError
from infra.fsutil import atomic_write
from infra.presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a stack file from a preset")
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--sus", type=int, default=1, help="scalable units (1-64)")
    p.add_argument(
        "--stack", type=stack_name, required=True, help="stack name: writes Pulumi.<stack>.yaml"
    )
    p.add_argument("--project-dir", type=Path, default=Path.cwd())
    p.add_argument("--force", action="store_true", help="overwrite an existing stack file")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    path = args.project_dir / f"Pulumi.{args.stack}.yaml"  # stack_name: one component
    if os.path.lexists(path) and not args.force:
        raise InputError([f"{path}: exists; pass --force to overwrite"])
    text = PRESETS[args.preset](args.sus, args.stack)
    try:
        # Without --force, a file that appears meanwhile is still not overwritten.
        atomic_write(path, text, replace=args.force)
    except FileExistsError as exc:
        raise InputError([f"{path}: exists; pass --force to overwrite"]) from exc
    except OSError as exc:
        raise InputError([f"{exc.filename or path}: cannot write: {exc.strerror}"]) from exc
    print(path)
    return 0
