"""The supercluster Pulumi policy pack (PulumiPolicy.yaml + __main__.py). The policies are
in policies.py, a pure module: importing it serves nothing, so tests call its validate
functions directly; __main__.py is what the Pulumi CLI runs."""
