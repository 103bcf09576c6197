"""The g8s operator kit.

``shared.api`` is the API contract between the operators (pure data and pure
functions); the other modules are the machinery every operator runs on:
identity, logging, settings, conditions, pause handling, error translation,
server-side apply, metrics and the kopf runtime. Only the adapter modules
(``shared.kube``) talk to external systems.
"""
