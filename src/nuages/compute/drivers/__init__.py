"""Implementations of the ``Hypervisor`` protocol; one package per hypervisor API."""
