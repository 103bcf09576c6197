"""The Kubernetes adapter: the only kit module that imports the kubernetes client."""

from shared.kube.client import Kube, ObjectRef, connect, connect_kubeconfig

__all__ = ["Kube", "ObjectRef", "connect", "connect_kubeconfig"]
