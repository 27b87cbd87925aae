"""email-service (`shippy.email`): a welcome email for every new user.

`main` wires the parts: `config` (environment), `repository` (the sent-mail
log in SQL), `mailer` (the email's text and SMTP) and `handler` (what one
`user.created` event does). It serves no RPC, only gRPC health.
"""

__version__ = "0.1.0"
