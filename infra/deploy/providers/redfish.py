"""BMC power, boot override and BIOS as Pulumi resources: one `BmcRack` per rack manages the
rack's node BMCs over Redfish and diffs them per node.

- create/update converge every node of the rack concurrently (BIOS, then boot override,
  then power) and fail with one line per BMC that stayed down ("node (address): reason")
  after converging all the others;
- read returns what the BMCs report (refresh); diff reads the BMCs too, so drift made
  behind Pulumi's back shows up in a preview;
- delete releases nothing physical: it only stops managing the rack.

Credentials are inputs marked secret (pulumi.Output.secret); no output carries them. A
refresh has only the outputs, so `read` takes the credentials from the provider's
configuration (stack secrets `supercluster:bmcUsername` / `supercluster:bmcPassword`) or,
failing that, from SUPERCLUSTER_BMC_USERNAME / SUPERCLUSTER_BMC_PASSWORD.
"""

from __future__ import annotations

import os
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from infra.deploy.providers import redfish_ops as ops

# Inputs that say what the rack should be; a change to any of them is an update.
DESIRED_KEYS = ("nodes", "power", "boot_target", "boot_mode", "bios")
CONNECTION_KEYS = ("verify_tls", "ca_bundle", "timeout_s", "attempts", "backoff_s")
SECRET_KEYS = ("username", "password")
DEFAULT_WORKERS = 16


class BmcRackError(Exception):
    """Some BMCs of a rack could not be converged; one line per BMC with its address."""

    def __init__(self, rack: str, failures: list[str]):
        self.failures = failures
        super().__init__(f"rack {rack}: {len(failures)} BMC(s) failed:\n" + "\n".join(failures))


def endpoints(props: dict[str, Any]) -> list[ops.BmcEndpoint]:
    return [
        ops.BmcEndpoint(n["node"], n["address"], n["url"], n.get("system") or None)
        for n in props["nodes"]
    ]


def desired(props: dict[str, Any]) -> ops.Desired:
    return ops.Desired(
        power=props.get("power", "On"),
        boot_target=props.get("boot_target", "Pxe"),
        boot_mode=props.get("boot_mode", "Once"),
        bios={k: str(v) for k, v in (props.get("bios") or {}).items()},
    )


def connection(props: dict[str, Any]) -> ops.Connection:
    defaults = ops.Connection()
    return ops.Connection(
        verify_tls=bool(props.get("verify_tls", True)),
        ca_bundle=props.get("ca_bundle") or None,
        timeout_s=float(props.get("timeout_s") or defaults.timeout_s),
        attempts=int(props.get("attempts") or defaults.attempts),
        backoff_s=float(props.get("backoff_s") or defaults.backoff_s),
        power_wait_s=float(props.get("power_wait_s") or defaults.power_wait_s),
    )


def _credentials(props: dict[str, Any]) -> ops.Credentials | None:
    username, password = props.get("username"), props.get("password")
    if isinstance(username, str) and isinstance(password, str):
        return ops.Credentials(username, password)
    return None


class BmcRackProvider(ResourceProvider):
    """The dynamic provider. Stateless and picklable: Pulumi serializes it into the
    program's state; credentials reach it only through inputs and configure()."""

    def __init__(self) -> None:
        super().__init__()
        self._configured: ops.Credentials | None = None

    def configure(self, req: ConfigureRequest) -> None:
        username, password = req.config.get("bmcUsername"), req.config.get("bmcPassword")
        if username and password:
            self._configured = ops.Credentials(str(username), str(password))

    def __getstate__(self) -> dict[str, Any]:
        # Never pickle configured credentials into the serialized provider.
        return {"_configured": None}

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        allowed = {
            "power": ops.POWER_STATES,
            "boot_target": ops.BOOT_TARGETS,
            "boot_mode": ops.BOOT_MODES,
        }
        for key, values in allowed.items():
            if key in news and news[key] not in values:
                failures.append(CheckFailure(key, f"must be one of {', '.join(values)}"))
        nodes = news.get("nodes")
        if not isinstance(nodes, list) or not nodes:
            failures.append(CheckFailure("nodes", "a non-empty list of BMC endpoints"))
        else:
            for i, node in enumerate(nodes):
                missing = [k for k in ("node", "address", "url") if not node.get(k)]
                if missing:
                    failures.append(CheckFailure(f"nodes[{i}]", f"missing {', '.join(missing)}"))
        for key in SECRET_KEYS:
            if not news.get(key):
                failures.append(CheckFailure(key, "required (a Pulumi secret)"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = self._converge(props)
        return CreateResult(id_=f"bmc-rack-{props['rack']}", outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        creds = _credentials(props) or self._configured or _env_credentials()
        results = self._fan_out(props, creds, converge=False)
        return ReadResult(id_=id_, outs=_outputs(props, results))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        if olds.get("rack") != news.get("rack"):
            return DiffResult(changes=True, replaces=["rack"], delete_before_replace=True)
        changed = [k for k in DESIRED_KEYS + CONNECTION_KEYS if olds.get(k) != news.get(k)]
        drifted = self.drift(news)
        return DiffResult(changes=bool(changed or drifted), replaces=[], stables=["rack"])

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._converge(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Deleting the resource stops managing the rack's BMCs; a node is never powered
        # off or reconfigured because a resource went away.
        return None

    def drift(self, props: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Per node, what differs from the desired state: {node: {field: [want, have]}},
        or {node: {"error": reason}} for a BMC that could not be read."""
        want = desired(props)
        out: dict[str, dict[str, Any]] = {}
        for result in self._fan_out(props, _credentials(props), converge=False):
            if result.error:
                out[result.endpoint.node] = {"error": result.error}
            elif result.state and (node_drift := ops.drift(want, result.state)):
                out[result.endpoint.node] = {k: list(v) for k, v in node_drift.items()}
        return out

    def _converge(self, props: dict[str, Any]) -> dict[str, Any]:
        results = self._fan_out(props, _credentials(props), converge=True)
        failures = [
            f"{r.endpoint.node} ({r.endpoint.address}): {r.error}" for r in results if r.error
        ]
        if failures:
            raise BmcRackError(props["rack"], failures)
        return _outputs(props, results)

    def _fan_out(
        self, props: dict[str, Any], creds: ops.Credentials | None, converge: bool
    ) -> list[ops.NodeResult]:
        if creds is None:
            raise BmcRackError(props.get("rack", "?"), ["no BMC credentials available"])
        want, conn = desired(props), connection(props)
        if converge:

            def work(ep: ops.BmcEndpoint) -> ops.NodeState:
                return ops.converge_node(ep, creds, conn, want)
        else:

            def work(ep: ops.BmcEndpoint) -> ops.NodeState:
                return ops.read_node(ep, creds, conn, want.bios)

        workers = int(props.get("workers") or DEFAULT_WORKERS)
        return ops.fan_out(endpoints(props), work, workers=workers)


def _env_credentials() -> ops.Credentials | None:
    username = os.environ.get("SUPERCLUSTER_BMC_USERNAME")
    password = os.environ.get("SUPERCLUSTER_BMC_PASSWORD")
    return ops.Credentials(username, password) if username and password else None


def _outputs(props: dict[str, Any], results: list[ops.NodeResult]) -> dict[str, Any]:
    """The resource's outputs: its inputs minus the credentials, plus what each BMC
    reported (or why it could not be read)."""
    outs = {k: v for k, v in props.items() if k not in SECRET_KEYS and k != "__provider"}
    outs["state"] = {
        r.endpoint.node: (r.state.as_dict() if r.state else {"error": r.error}) for r in results
    }
    return outs


class BmcRack(Resource, module="bmc", name="BmcRack"):
    """One rack's node BMCs. Inputs (see docs/redfish.md):

    rack: rack name (its identity; renaming it replaces the resource)
    nodes: [{"node", "address" (the design's bmc_ip), "url" (Redfish base URL),
             "system" (system id; None on a real BMC with one system)}]
    power: "On" | "Off"; boot_target: "Pxe" | "Hdd" | "None"; boot_mode: "Once" | "Continuous"
    bios: {attribute: value} from the node profile (catalog `bios` of the node model)
    username, password: BMC credentials; always passed on as Pulumi secrets
    verify_tls (default True), ca_bundle: PEM path of the site's BMC CA
    timeout_s, attempts, backoff_s, power_wait_s, workers: per-request timeout and retries
    """

    state: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        rack: str,
        nodes: list[dict[str, Any]],
        username: pulumi.Input[str],
        password: pulumi.Input[str],
        bios: dict[str, str] | None = None,
        power: str = "On",
        boot_target: str = "Pxe",
        boot_mode: str = "Once",
        verify_tls: bool = True,
        ca_bundle: str | None = None,
        connection_options: dict[str, float] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "rack": rack,
            "nodes": nodes,
            "power": power,
            "boot_target": boot_target,
            "boot_mode": boot_mode,
            "bios": dict(bios or {}),
            "verify_tls": verify_tls,
            "ca_bundle": ca_bundle,
            **(connection_options or {}),
            "username": pulumi.Output.secret(username),
            "password": pulumi.Output.secret(password),
            "state": None,
        }
        secret_outs = pulumi.ResourceOptions(additional_secret_outputs=list(SECRET_KEYS))
        opts = pulumi.ResourceOptions.merge(opts, secret_outs)
        super().__init__(BmcRackProvider(), name, props, opts)
