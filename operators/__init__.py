"""The g8s operators: one package per operator, each owning one CRD.

Operators import the kit (``shared``) and never each other; import-linter
checks it (pyproject.toml).
"""
