"""Compute: virtual machines, their hosts, images and disks.

The layer that talks to the hypervisor lives here:

- ``hypervisor`` — the ``Hypervisor`` protocol and the typed value objects callers pass
  and receive (``DomainSpec``, ``DomainStatus``, ``HostCapacity``, ``PowerState``);
- ``drivers.libvirt`` — its implementation over libvirt (QEMU hosts, and libvirt's own
  in-process ``test:///default`` driver for fast tests and simulated fleets);
- ``disks`` — qcow2 overlays on base images with ``qemu-img`` (create, reinstall, grow,
  delete); the hypervisor driver never touches disk files;
- ``seed`` — cloud-init NoCloud seed ISOs (label ``cidata``) built with ``pycdlib``;
- ``tinyimage`` — the tiny guest (Debian kernel, busybox, dropbear) used by tests and
  benchmarks: it boots in seconds under software emulation, reads the seed, serves SSH.
"""
