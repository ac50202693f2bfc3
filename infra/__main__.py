"""Pulumi entry point (Pulumi.yaml `main: infra/`): config -> spec -> design -> components.
The body lives in infra/program.py so tests can run it under Pulumi's mocks."""

from infra.errors import InputError
from infra.program import main

try:
    main()
except InputError as exc:
    # One line per problem, naming the config path, instead of a Python traceback.
    raise SystemExit("\n".join(f"error: {p}" for p in exc.problems)) from None
