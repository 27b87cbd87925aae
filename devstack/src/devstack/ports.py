"""TCP ports on the loopback interface.

A free port is chosen by `port-for`, outside the system's ephemeral range,
where the kernel picks the local ports of outgoing connections: a port found
there (by binding to port 0, say) could be taken by some connection before
our server binds it.
"""

from __future__ import annotations

import socket

import port_for


def free_port() -> int:
    """A port nothing listens on or holds, for a server to start on."""
    return port_for.select_random()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something answers on `host:port`. (Not port-for's `port_is_used`,
    which also counts a port that only lingers in TIME_WAIT after a server
    stopped: that would mistake the NATS of the previous `make run` for one
    that still runs, and move a recorded port for nothing.)"""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
