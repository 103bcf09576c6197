"""The g8s VM launcher: runs one node's QEMU inside its host pod.

``python -m operators.kvm.launcher`` reads ``G8S_LAUNCHER_*`` settings,
reads the guest image's manifest and makes (or reuses) the VM's qcow2
overlay on its disk volume (``guest.py``), builds the QEMU command line
(``command.py``, pure), runs QEMU with its serial console on stdout, serves
``/readyz`` while the VM runs, and on SIGTERM asks the guest to power down
through QMP, quitting QEMU after the timeout (``process.py``).
"""
