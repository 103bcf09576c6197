"""The certificates operator.

Owns ``Certificate`` (g8s.io/v1alpha1). Keeps one Vault PKI mount per guest
cluster (``pki-<namespace>-<cluster>``: a root CA created once, one role per
component allowing only that component's names and usages) and writes Secrets
``<c>-<component>`` (kubernetes.io/tls: key made here, certificate signed by
Vault from a CSR, CA) and ``<c>-ca`` (CA certificate only). Renews each
certificate at its own renewal time, revokes replaced and deleted ones, and
removes the cluster's mount with its last Certificate.

Modules: ``model`` (parse), ``policies`` (issue or not, when to renew),
``reconcile`` (the steps), ``status``, ``children`` (the Secrets), ``keys``
(keys, CSRs), ``renewal`` (the per-certificate timer), ``context`` (settings
and context), ``metrics``, ``handlers`` (kopf only).
"""
