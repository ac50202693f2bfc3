"""Pulumi entry point (Pulumi.yaml `main: infra/`): config -> spec -> design -> components.
The body lives in infra/deploy/program.py so tests can run it under Pulumi's mocks."""

import sys
from pathlib import Path

# Pulumi runs this directory as a script, which puts infra/ itself first on sys.path and
# would make its modules (errors, spec, policy...) importable as top-level names. Import
# the package from the project root instead.
_here = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
sys.path.insert(0, str(_here.parent))

import pulumi  # noqa: E402

from infra.deploy.program import main  # noqa: E402
from infra.errors import InputError  # noqa: E402

# The SDK runner's exit code for "the error was already shown": the engine adds nothing.
SHOWN_TO_USER = 32

try:
    main()
except InputError as exc:
    # One line per problem, naming the config path, instead of a Python traceback.
    for problem in exc.problems:
        pulumi.log.error(problem)
    raise SystemExit(SHOWN_TO_USER) from None
