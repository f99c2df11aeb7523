"""A mail backend for tests that can refuse, like an SMTP server that is down or rejects an address.

It keeps accepted messages in ``django.core.mail.outbox`` (Django's locmem backend); ``refuse`` is a
set of addresses whose messages the "server" refuses, ``down`` refuses everything.
"""

from __future__ import annotations

import smtplib

from django.core.mail.backends.locmem import EmailBackend


class FlakyBackend(EmailBackend):
    down = False
    refuse: set[str] = set()
    attempts: list[tuple[str, ...]] = []

    def send_messages(self, messages):
        for message in messages:
            FlakyBackend.attempts.append(tuple(message.to))
            if FlakyBackend.down:
                raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
            refused = set(message.to) & FlakyBackend.refuse
            if refused:
                raise smtplib.SMTPRecipientsRefused({address: (550, b"mailbox unavailable") for address in refused})
        return super().send_messages(messages)

    @classmethod
    def reset(cls) -> None:
        cls.down = False
        cls.refuse = set()
        cls.attempts = []
