"""Condition types, statuses and reasons (docs/design.md#status-and-conditions).

Reasons are CamelCase words that say *why*; messages carry the detail.
"""

from typing import Final, Literal

ConditionStatus = Literal["True", "False", "Unknown"]

TRUE: Final = "True"
FALSE: Final = "False"
UNKNOWN: Final = "Unknown"

# Types every kind has.
READY = "Ready"
PAUSED = "Paused"

# Cluster.
CERTIFICATES_READY = "CertificatesReady"
ETCD_READY = "EtcdReady"
NETWORK_READY = "NetworkReady"
CONTROL_PLANE_READY = "ControlPlaneReady"
WORKERS_READY = "WorkersReady"
UP_TO_DATE = "UpToDate"
# Node remediation: every node Ready, or which are replaced and why.
NODES_HEALTHY = "NodesHealthy"
# The guest's encryption key rotation: True while one runs (reason: its phase).
ENCRYPTION_KEY_ROTATING = "EncryptionKeyRotating"
# The guest's service-account signing key rotation: True while one runs (reason: its step).
SERVICE_ACCOUNT_KEY_ROTATING = "ServiceAccountKeyRotating"
# The guest's CA rotation: True while one runs (reason: the phase every Certificate reached).
CA_ROTATING = "CARotating"
DELETING = "Deleting"

# Certificate.
ISSUING = "Issuing"

# EtcdCluster.
MEMBERS_HEALTHY = "MembersHealthy"
BACKUP_READY = "BackupReady"

# KVMNode.
VM_RUNNING = "VMRunning"
NODE_READY = "NodeReady"
DRAINED = "Drained"
# NodeReady False: the guest Node is Ready but its control plane's API server
# is not (still starting): its VM is not unhealthy (the cluster operator's
# remediation does not judge it, nor a node NodeReady Unknown).
REASON_GUEST_API_NOT_READY = "GuestAPINotReady"

# Reasons used by the kit for every kind.
REASON_RECONCILED = "Reconciled"
REASON_RECONCILING = "Reconciling"
REASON_INVALID_SPEC = "InvalidSpec"
REASON_NAMESPACE_TERMINATING = "NamespaceTerminating"
REASON_RECONCILE_ERROR = "ReconcileError"
REASON_PAUSED = "Paused"
REASON_NOT_PAUSED = "NotPaused"
REASON_OBSERVED = "Observed"
REASON_NOT_OBSERVED = "NotYetObserved"
