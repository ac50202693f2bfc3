"""The software pins health checks compare against: the same group_vars the playbooks use
(inventory/group_vars/all/*.yml, then inventory/<stack>/group_vars/all/*.yml, later files
winning), so a pin changes in one place for both configuration and checks."""

from __future__ import annotations

from pathlib import Path

import yaml

from infra.errors import InputError

PIN_KEYS = ("nvidia_driver_version",)


def load_pins(project_dir: Path, stack: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for base in (project_dir / "inventory", project_dir / "inventory" / stack):
        for path in sorted((base / "group_vars" / "all").glob("*.yml")):
            data = yaml.safe_load(path.read_text()) or {}
            if not isinstance(data, dict):
                raise InputError([f"{path}: expected a mapping of variables"])
            for key in PIN_KEYS:
                if key in data:
                    pins[key] = _literal(path, key, data[key])
    return pins


def _literal(path: Path, key: str, value: object) -> str:
    text = str(value)
    if "{{" in text:
        raise InputError([f"{path}: {key} must be a literal version, not a template: {text}"])
    return text
