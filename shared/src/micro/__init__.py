"""micro: the small microservice core every Shippy service is built on.

    from micro import Service, Options, EventInfo

The concepts, one module each: `service` (lifetime), `server` and `wrappers`
(gRPC with health and reflection), `client` (call a service by name),
`registry`, `selector`, `broker`, `pubsub`, `codec`, `errors`, `config`;
for programs, `runner` (a service's main), `cli` (a command-line client) and
`postgres` (a database pool, with the `postgres` extra).
"""

from micro.client import Client
from micro.config import Options
from micro.pubsub import EventInfo, Publisher, Subscriber
from micro.server import Server
from micro.service import Service

__all__ = ["Client", "EventInfo", "Options", "Publisher", "Server", "Service", "Subscriber"]
