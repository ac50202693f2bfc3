"""`supercluster init --preset superpod --sus N --stack NAME`: write a reference stack."""

from __future__ import annotations

import argparse
from pathlib import Path

from infra.errors import InputError
from infra.fsutil import atomic_write
from infra.presets import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="write a stack file from a preset")
    p.add_argument("--preset", required=True, choices=sorted(PRESETS))
    p.add_argument("--sus", type=int, default=1, help="scalable units (1-64)")
    p.add_argument("--stack", required=True, help="stack name: writes Pulumi.<stack>.yaml")
    p.add_argument("--project-dir", type=Path, default=Path.cwd())
    p.add_argument("--force", action="store_true", help="overwrite an existing stack file")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    path = args.project_dir / f"Pulumi.{args.stack}.yaml"
    if path.exists() and not args.force:
        raise InputError([f"{path}: exists; pass --force to overwrite"])
    text = PRESETS[args.preset](args.sus, args.stack)
    atomic_write(path, text)
    print(path)
    return 0
