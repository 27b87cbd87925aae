"""consignment-service (`shippy.consignment`): loads of containers, each placed
on a vessel; every call needs a token.

`main` wires the parts: `config` (environment), `repository` (SQL), `auth`
(the token check before every call), `validation` (request fields) and
`handler` (the gRPC methods, which ask vessel-service for a vessel).
"""

__version__ = "0.1.0"
