"""What email-service does with one `user.created` event: one welcome email.

Delivery is at least once, so the same event may come twice. The order below
keeps both lost and duplicate mail as rare as it can be:

1. open an SMTP session and claim the event id in the sent-mail log (a
   second delivery skips here);
2. send the email;
3. commit the claim as soon as the server has taken the message (before the
   SMTP goodbye), or release it if sending failed and raise, so that a
   broker that redelivers (JetStream) tries again later.

When the commit fails after the send (the database went away at that very
moment), the handler remembers the event id, raises, and on the redelivery
records the claim without sending again. Only a crash of the process between
a successful send and the commit can still mail twice: SMTP has no way to
take a message back or to be asked whether it has one.
An event no retry can help (no event id, no usable address) is logged and
dropped, as micro drops an event it cannot decode.
"""

from __future__ import annotations

import logging

from micro import EventInfo
from shippy.user.v1 import events_pb2

from email_service.mailer import InvalidRecipient, Mailer, render_welcome
from email_service.repository import SentEmails

log = logging.getLogger(__name__)

MAX_REMEMBERED = 10_000
"""Event ids kept whose mail went out while their record could not be written."""


class WelcomeHandler:
    def __init__(self, sent_emails: SentEmails, mailer: Mailer, *, sender: str) -> None:
        self._sent_emails = sent_emails
        self._mailer = mailer
        self._sender = sender
        self._sent_not_recorded: dict[str, None] = {}
        """Event ids mailed whose claim could not be committed, oldest first (bounded)."""

    async def on_user_created(self, event: events_pb2.UserCreated, info: EventInfo) -> None:
        event_id = event.event_id or info.id
        if not event_id:
            log.error("dropped user.created for user %s: the event has no id", event.user_id)
            return
        try:
            welcome = render_welcome(event, sender=self._sender, event_id=event_id)
        except InvalidRecipient as error:
            log.error("dropped user.created event %s: %s", event_id, error)
            return

        already_sent = event_id in self._sent_not_recorded
        sent = False
        try:
            # The claim commits inside the SMTP session, right after the server
            # took the message: the window in which a crash mails twice is one commit.
            async with (
                self._mailer.session() as smtp,
                self._sent_emails.claim(
                    event_id, user_id=event.user_id, email=event.email
                ) as claimed,
            ):
                if not claimed:
                    log.info("event %s already mailed, skipping", event_id)
                    return
                if not already_sent:
                    await smtp.send(welcome)
                    sent = True
        except Exception:
            if sent:  # the mail went out; only recording it failed
                self._remember_sent(event_id)
            raise
        self._sent_not_recorded.pop(event_id, None)
        if already_sent:
            log.info("recorded the welcome email already sent for event %s", event_id)
        else:
            log.info("welcome email sent to %s for event %s", event.email, event_id)

    def _remember_sent(self, event_id: str) -> None:
        self._sent_not_recorded[event_id] = None
        while len(self._sent_not_recorded) > MAX_REMEMBERED:
            del self._sent_not_recorded[next(iter(self._sent_not_recorded))]
