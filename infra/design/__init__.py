"""The design compiler: pure functions from the spec to every rack, node, switch, link,
watt and litre of the site. No I/O beyond reading the packaged catalog."""

from infra.design.compile import compile_design
from infra.design.model import Design

__all__ = ["Design", "compile_design"]
