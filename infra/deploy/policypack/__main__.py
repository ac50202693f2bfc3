"""Entry point the Pulumi CLI runs for this policy pack. Constructing PolicyPack starts
the analyzer server and serves until the engine stops it: never import this module."""

from pulumi_policy import PolicyPack

from infra.deploy.policypack.policies import PACK_NAME, resource_policies

PolicyPack(name=PACK_NAME, policies=resource_policies())
