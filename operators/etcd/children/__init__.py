"""One pure builder per object the etcd operator writes: ``build(spec, ...) -> dict``.

Builders return plain dicts without owner or standard labels;
``reconcile`` stamps them with ``shared.children.owned`` before applying.
"""
