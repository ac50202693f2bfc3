"""Pulumi dynamic providers: pure-Python CRUD against real endpoints (BMCs over Redfish, ...)."""
