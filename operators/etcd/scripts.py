"""What the member pods run: the etcd start script and the restore init container's script.

Pure data. Both are POSIX shell run as ``/bin/sh -ec <script>`` and take
every value from environment variables, which the StatefulSet sets (with
Kubernetes' ``$(POD_NAME)`` expansion) and which the integration test sets
to loopback values, so the test runs the very command the pod runs.

etcd reads its whole configuration from ``ETCD_*`` variables; the start
script only adds the initial cluster when the data directory is empty: a
new member must be told the current membership (written by the operator
into the members ConfigMap), a member with data ignores it anyway.
"""

DATA_MOUNT = "/var/lib/etcd"
DATA_DIR = f"{DATA_MOUNT}/data"
CLUSTER_DIR = "/etc/etcd/cluster"
TLS_DIR = "/etc/etcd/tls"
BACKUP_MOUNT = "/backups"
CLIENT_PORT = 2379
PEER_PORT = 2380
METRICS_PORT = 2381

# Keys of the members ConfigMap, as files under CLUSTER_DIR.
INITIAL_CLUSTER_KEY = "initial-cluster"
INITIAL_CLUSTER_STATE_KEY = "initial-cluster-state"

SHELL = ("/bin/sh", "-ec")

MEMBER_SCRIPT = """\
export ETCD_NAME="$POD_NAME"
if [ ! -d "$ETCD_DATA_DIR/member" ]; then
  ETCD_INITIAL_CLUSTER="$(cat "$CLUSTER_DIR/initial-cluster")"
  ETCD_INITIAL_CLUSTER_STATE="$(cat "$CLUSTER_DIR/initial-cluster-state")"
  export ETCD_INITIAL_CLUSTER ETCD_INITIAL_CLUSTER_STATE
  echo "empty data directory: $ETCD_INITIAL_CLUSTER_STATE member of $ETCD_INITIAL_CLUSTER"
fi
exec etcd
"""

RESTORE_SCRIPT = """\
if [ -d "$ETCD_DATA_DIR/member" ]; then
  echo "$ETCD_DATA_DIR already holds a member: not restoring over it"
  exit 0
fi
if [ "$(cat "$CLUSTER_DIR/initial-cluster-state")" = existing ]; then
  echo "joining a running cluster: it brings the data, nothing to restore"
  exit 0
fi
if [ ! -f "$SNAPSHOT_FILE" ]; then
  echo "snapshot $SNAPSHOT_FILE not found" >&2
  exit 1
fi
if [ -n "${SNAPSHOT_SHA256:-}" ]; then
  echo "$SNAPSHOT_SHA256  $SNAPSHOT_FILE" | sha256sum -c -
fi
rm -rf "$ETCD_DATA_DIR.restoring"
etcdutl snapshot restore "$SNAPSHOT_FILE" \\
  --name "$POD_NAME" \\
  --data-dir "$ETCD_DATA_DIR.restoring" \\
  --initial-cluster "$(cat "$CLUSTER_DIR/initial-cluster")" \\
  --initial-cluster-token "$ETCD_INITIAL_CLUSTER_TOKEN" \\
  --initial-advertise-peer-urls "$ETCD_INITIAL_ADVERTISE_PEER_URLS"
if [ ! -d "$ETCD_DATA_DIR.restoring/member/snap" ]; then
  echo "restore left no member/snap in $ETCD_DATA_DIR.restoring" >&2
  exit 1
fi
mv "$ETCD_DATA_DIR.restoring" "$ETCD_DATA_DIR"
echo "restored $SNAPSHOT_FILE into $ETCD_DATA_DIR as $POD_NAME"
"""


def member_command() -> list[str]:
    return [*SHELL, MEMBER_SCRIPT]


def restore_command() -> list[str]:
    return [*SHELL, RESTORE_SCRIPT]


def initial_cluster(peers: dict[str, str]) -> str:
    """etcd's ``--initial-cluster`` value: ``name=peerURL`` pairs, by name."""
    return ",".join(f"{name}={peers[name]}" for name in sorted(peers))
