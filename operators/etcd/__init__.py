"""The etcd operator.

Owns ``EtcdCluster`` (g8s.io/v1alpha1). Writes the members' StatefulSet
``<c>-etcd`` (a PVC per member), the client Service ``<c>-etcd``, the
headless peer Service ``<c>-etcd-peer``, a PodDisruptionBudget and the
members ConfigMap ``<c>-etcd-members`` (the membership a new member joins);
reads the TLS Secrets the EtcdCluster names. Through the etcd v3 API
(``shared.etcd``) it watches member health, changes membership one member at
a time (learner first, then promotion), replaces members unhealthy for too
long, takes snapshots into a backup store (``shared.backup``) and
defragments members one at a time, the leader last.

Where to look: ``model`` (the spec), ``children/`` (one builder per object),
``scripts`` (what the pods run), ``policies`` (the decisions), ``membership``
(probe and act over the adapter), ``reconcile`` (the steps), ``status``
(conditions and phase), ``handlers`` (kopf), ``context`` (settings and context).
"""
