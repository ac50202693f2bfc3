"""The shared shape of every supercluster component: a type token, a name from the design,
children parented, and the design's data about the object as the component's outputs.

Data goes through register_outputs, not the resource's inputs: the Python SDK turns every
input key into an Output on the object and serializes it twice, which made a 600-rack
hall stack twice as slow to register. Only what policies must see travels as inputs
(the Site's spec)."""

from __future__ import annotations

from typing import Any

import pulumi


class Component(pulumi.ComponentResource):
    TYPE = "supercluster:base:Component"

    def __init__(
        self,
        name: str,
        data: dict[str, Any],
        opts: pulumi.ResourceOptions | None = None,
        *,
        inputs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(self.TYPE, name, inputs, opts)
        self.data = data
        self.child = pulumi.ResourceOptions(parent=self)

    def done(self, extra: dict[str, Any] | None = None) -> None:
        self.register_outputs({**self.data, **(extra or {})})
