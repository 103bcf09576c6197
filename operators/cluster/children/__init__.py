"""One pure builder per object the cluster operator writes: ``build(...) -> dict``.

Builders return the object without owner reference and standard labels;
``shared.children.owned`` stamps those before the object is applied.
"""
