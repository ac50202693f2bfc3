"""Pulumi ComponentResources that map a Design onto resources: Site, Hall, ScalableUnit,
Rack (site.py), PowerPlant/PowerPhase/PowerFeed (power.py), CoolingPlant/CoolingLoop
(cooling.py), FabricPlane/SwitchTier/SubnetManager (fabric.py). The texts and output data
they publish are pure functions in render.py."""
