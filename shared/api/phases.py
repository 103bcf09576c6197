"""The phases each kind may show in ``status.phase`` (the CRDs enumerate them).

A phase outside its kind's list makes the API server refuse the whole status
patch, so operators take phases from here; ``tests/unit/test_api_phases.py``
keeps these lists and the CRD enums identical.
"""

PENDING = "Pending"
FAILED = "Failed"
DELETING = "Deleting"

BY_KIND: dict[str, tuple[str, ...]] = {
    "Cluster": (PENDING, "Provisioning", "Provisioned", "Upgrading", DELETING, FAILED),
    "Certificate": (PENDING, "Issuing", "Issued", "Renewing", DELETING, FAILED),
    "EtcdCluster": (
        PENDING,
        "Creating",
        "Running",
        "Scaling",
        "Degraded",
        "Restoring",
        DELETING,
        FAILED,
    ),
    "ClusterNetwork": (PENDING, "Allocating", "Allocated", "Ready", DELETING, FAILED),
    "KVMNode": (PENDING, "Provisioning", "Running", "Ready", "Draining", DELETING, FAILED),
}
