"""TCP ports on the loopback interface, chosen by `port-for`.

A free port is one outside the system's ephemeral range, where the kernel
picks the local ports of outgoing connections: a port found there by binding
to port 0 could be taken by some connection before our server binds it.
"""

from __future__ import annotations

import port_for


def free_port() -> int:
    """A port nothing listens on or binds, for a server to start on."""
    return port_for.select_random()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on `host:port`, or holds it bound."""
    return port_for.port_is_used(port, host)
