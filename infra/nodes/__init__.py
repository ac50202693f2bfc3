"""Ansible-facing layer: the inventory generated from a design and the playbook runs
(ansible-runner) that configure the nodes."""
