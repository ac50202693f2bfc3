"""Pulumi-facing layer: the program, its components and dynamic providers, the policy
pack, stack layering, the Automation API and the language host."""
