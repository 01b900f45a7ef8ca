"""The libvirt implementation of ``Hypervisor`` (QEMU hosts and libvirt's test driver)."""

from nuages.compute.drivers.libvirt.driver import LibvirtHypervisor

__all__ = ["LibvirtHypervisor"]
