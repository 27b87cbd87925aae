"""vessel-service (`shippy.vessel`): the fleet, and which vessel can take a load.

`main` wires the parts: `config` (environment), `repository` (SQL), `fleet`
(the vessels a new deployment starts with), `validation` (request fields) and
`handler` (the gRPC methods).
"""

__version__ = "0.1.0"
