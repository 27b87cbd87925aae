"""user-service (`shippy.user`): accounts, bcrypt passwords and JSON Web Tokens.

`main` wires the parts: `config` (environment), `repository` (SQL),
`passwords` (bcrypt), `tokens` (JWT), `validation` (request fields) and
`handler` (the gRPC methods).
"""

__version__ = "0.1.0"
