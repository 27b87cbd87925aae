"""micro: the small microservice core every Shippy service is built on.

    from micro import Service, Options, EventInfo

The concepts, one module each: `service` (lifetime), `server`, `reflection`
and `wrappers` (gRPC with health and reflection), `client` (call a service by name),
`transport` (the channel a client dials) and `nats_transport` (RPC over NATS),
`services_api` (the NATS services API), `registry`, `selector`, `broker`,
`pubsub`, `codec`, `errors`, `config`; `plugins` finds a broker, registry or
transport by name; `tasks` owns background tasks; `testing` holds the
in-memory stack and the contract tests for plugins.
"""

from micro.client import Client
from micro.config import Options
from micro.pubsub import EventInfo, Publisher, Subscriber
from micro.server import Server
from micro.service import Service

__all__ = ["Client", "EventInfo", "Options", "Publisher", "Server", "Service", "Subscriber"]
