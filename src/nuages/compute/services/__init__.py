"""Compute use cases, one module per family: ``vms`` (create and act on VMs),
``operations`` (the jobs that carry actions out, crash recovery), ``reconcile`` (power
state sync and outages), ``placement``, ``ipam`` (SSH ports and fixed addresses),
``keys``, ``images``, ``hosts``, ``access`` (who may see and operate which VM).
"""
