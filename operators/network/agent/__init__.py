"""The network host agent, one per host node: ``python -m operators.network.agent``.

It watches ``ClusterNetwork`` objects and host ``Node`` objects and converges,
on its own host, one bridge and one VXLAN device per allocated network, with a
flood entry to every other host's tunnel endpoint; it removes the devices of
networks that no longer exist. Every device it creates carries the interface
alias ``g8s-network:<namespace>/<name>``; devices without it are never
touched. ``plan`` is the pure decision (desired vs observed -> ordered
actions), ``converge`` runs it through the netlink adapter, and each host
reports per network in ``status.hosts`` of the ClusterNetwork.
"""
