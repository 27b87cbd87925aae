"""shippy_kit: what Shippy's services and CLIs share that is not a micro core.

- `runner`: a service's `main()` (configuration errors as one line, exit codes).
- `cli`: the command-line clients' options, errors and output (`table`, `as_json`),
  and the token's call metadata (`bearer`).
- `config`: `DatabaseConfig`, the settings of a service that needs only its database.
- `postgres`: a connection pool that fails fast as `Unavailable` and recovers.
- `health_probe`: `python -m shippy_kit.health_probe`, a container health check.

The micro core (`micro`) never imports this package.
"""
