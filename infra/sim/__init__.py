"""The simulated site: isolated Linux hosts with real sshd on loopback (fleet.py), the
hardware tool fixtures test nodes carry (hardware.py, fixtures/), and the Redfish BMCs."""
