"""The certificates operator.

Owns ``Certificate`` (g8s.io/v1alpha1). Keeps one Vault PKI mount per guest
cluster and writes Secrets ``<c>-<component>`` (key, certificate, CA) and
``<c>-ca`` (CA certificate only).
"""
