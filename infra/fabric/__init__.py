"""The InfiniBand fabric as built and as seen: OpenSM configuration per subnet (plane),
the GUID plan, ibnetdiscover-format topologies (designed, faulted, discovered), the
ibsim/OpenSM bring-up and the cabling validation. Pure functions over the Design, except
infra.fabric.sim, the one adapter that starts processes."""
