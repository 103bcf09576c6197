"""The Kubernetes adapter: the only kit module that imports the kubernetes client."""

from shared.kube.client import Kube, ObjectRef, connect

__all__ = ["Kube", "ObjectRef", "connect"]
