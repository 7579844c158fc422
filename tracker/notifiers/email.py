"""Alerts by email over SMTP: STARTTLS, implicit TLS or plain (local relays); credentials from environment
variables named in config."""

from __future__ import annotations

import mimetypes
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

from tracker.alerts import AlertMessage
from tracker.errors import NotifyError


class EmailNotifier:
    channel = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        sender: str,
        recipients: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host, self.port, self.security = host, port, security
        self.sender, self.recipients = sender, list(recipients)
        self.username, self.password, self.timeout = username, password, timeout
        self.ssl_context = ssl_context or ssl.create_default_context()

    def send(self, message: AlertMessage) -> None:
        if not self.recipients:
            raise NotifyError("alerts.email.recipients is empty; add at least one address")
        mail = EmailMessage()
        mail["Subject"] = message.subject
        mail["From"] = self.sender
        mail["To"] = ", ".join(self.recipients)
        mail["X-Tracker-Alert-Key"] = message.key
        mail.set_content(message.text)
        for name in message.attachments:
            path = Path(name)
            if not path.is_file():
                continue  # a chart that could not be made is left out, not a reason to lose the alert
            ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            maintype, subtype = ctype.split("/", 1)
            mail.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
        try:
            if self.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self.ssl_context
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=self.ssl_context)
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"email to {self.host}:{self.port} failed: {exc}".splitlines()[0]) from None
