"""Entry point of the simulated site's BMCs: sushy-tools' sushy-emulator, fake driver.

Run as `python -m infra.sim.bmc_emulator --config FILE` (infra/sim/bmc.py does this). The
emulator is unmodified except for two gaps of its fake driver, filled here because the BMC
provider must manage them:

- BIOS: the fake driver has no BIOS store (GET .../BIOS answers "not implemented"); here
  BIOS attributes live in the fake system's record, next to its power state, so the
  emulator's own BIOS, BIOS/Settings and ResetBios routes work.
- Boot override frequency: the emulator ignores BootSourceOverrideEnabled and always
  reports "Continuous"; here a successful PATCH records it and GETs report it, so a "Once"
  override can be told apart from a "Continuous" one.

One change of storage, for scale: the fake driver and the indicator LEDs keep their state
in a plain dict in this one process instead of sushy-tools' sqlite-backed PersistentDict
(which opens a database connection per lookup; at 512 systems that is most of a request's
time). Both drivers already accept a store without `make_permanent`. State lives as long as
the process, which is all the simulated site needs: it runs one emulator process.
"""

from __future__ import annotations

import json
import re
import sys

import flask
from sushy_tools.emulator import main as emulator
from sushy_tools.emulator.resources import indicators
from sushy_tools.emulator.resources.systems import fakedriver

# What a freshly racked node's BIOS reports before anyone configured it for GPU work.
DEFAULT_BIOS = {
    "BootMode": "Uefi",
    "SriovEnable": "Disabled",
    "Above4GDecoding": "Disabled",
    "PowerProfile": "Balanced",
}

_SYSTEM_PATH = re.compile(r"^/redfish/v1/Systems/(?P<identity>[^/]+)/?$")
_OVERRIDE_ENABLED = ("Once", "Continuous", "Disabled")


def _get_bios(self: fakedriver.FakeDriver, identity: str) -> dict:
    return dict(self._get(identity).get("bios") or DEFAULT_BIOS)


def _set_bios(self: fakedriver.FakeDriver, identity: str, attributes: dict) -> None:
    system = self._get(identity)
    bios = dict(system.get("bios") or DEFAULT_BIOS)
    bios.update(attributes or {})
    self._update(system, bios=bios)


def _reset_bios(self: fakedriver.FakeDriver, identity: str) -> None:
    self._update(identity, bios=dict(DEFAULT_BIOS))


def _track_boot_override_enabled(response: flask.Response) -> flask.Response:
    match = _SYSTEM_PATH.match(flask.request.path)
    if not match or response.status_code >= 400:
        return response
    systems = emulator.app.systems
    identity = match["identity"]
    if flask.request.method == "PATCH":
        boot = (flask.request.get_json(silent=True) or {}).get("Boot") or {}
        enabled = boot.get("BootSourceOverrideEnabled")
        if enabled in _OVERRIDE_ENABLED:
            systems._update(systems.uuid(identity), boot_enabled=enabled)
    elif flask.request.method == "GET" and response.is_json:
        body = response.get_json()
        enabled = systems._get(systems.uuid(identity)).get("boot_enabled")
        if enabled and isinstance(body.get("Boot"), dict):
            body["Boot"]["BootSourceOverrideEnabled"] = enabled
            response.set_data(json.dumps(body, indent=4))
    return response


class _InProcessStore:
    """Stands in for the `memoize` module inside the two drivers: PersistentDict -> dict."""

    PersistentDict = dict


def main() -> int:
    fakedriver.memoize = _InProcessStore
    indicators.memoize = _InProcessStore
    fakedriver.FakeDriver.get_bios = _get_bios
    fakedriver.FakeDriver.set_bios = _set_bios
    fakedriver.FakeDriver.reset_bios = _reset_bios
    emulator.app.after_request(_track_boot_override_enabled)
    return emulator.main()


if __name__ == "__main__":
    sys.exit(main())
