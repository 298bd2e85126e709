"""SMTP e-mail: the SendGrid path's message, handed to any mail server (a relay, a submission
port, a provider's SMTP endpoint) with aiosmtplib.

One recipient per envelope (max_batch 1): each customer gets a message of their own, addressed
to them alone, so nobody sees another's address and a retry never mails anyone twice. The
message is the one SendGrid sends (From, To, Subject, List-Unsubscribe, X-Detector-Notice-Id;
text and HTML as multipart/alternative), with the Date and Message-ID SendGrid would add; the
Message-ID is derived from the outbox row, so a send repeated after a cut-off carries the same
one. Connections are kept for a short while and reused by the next envelope (an incident's
notice goes to many people at once); one found closed is replaced before anything is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import socket
import ssl
from dataclasses import dataclass
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import EmailPolicy
from email.utils import formatdate
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from detector import logs
from detector.channels import links as subscription_links
from detector.channels.base import Delivery, Envelope, Recipient, logged, redacted

# the same sender rule and unsubscribe link as the SendGrid path: one message, two transports
from detector.channels.sendgrid import _NAMED_ADDRESS_RE, _sender_email, _status_page
from detector.clock import Clock, SystemClock
from detector.config.fields import ChannelBase, Secret

if TYPE_CHECKING:  # imported by the first e-mail: a daemon pays only for the providers it uses
    import aiosmtplib

Security = Literal["starttls", "implicit", "none"]
DEFAULT_PORTS: dict[str, int] = {"starttls": 587, "implicit": 465, "none": 25}


class SmtpChannel(ChannelBase):
    type: Literal["smtp"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)  # None: by `security`
    security: Security = "starttls"
    username: str | None = Field(default=None, min_length=1)
    password: Secret | None = None
    from_: Annotated[str, AfterValidator(_sender_email)] = Field(alias="from")
    ca_file: str | None = Field(default=None, min_length=1)  # None: the system's trust store

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if ":" in v:  # an IPv6 address, or a port where it does not belong
            try:
                ipaddress.IPv6Address(v.strip("[]"))
            except ValueError:
                raise ValueError(
                    f"not a host name or address: {v!r} (the port goes in `port`)"
                ) from None
            return v.strip("[]")
        if any(c.isspace() for c in v) or "/" in v or "@" in v:
            raise ValueError(f"not a host name or address: {v!r} (the port goes in `port`)")
        return v

    @field_validator("password")
    @classmethod
    def _only_over_tls(cls, v: object, info: ValidationInfo) -> object:
        if v is not None and info.data.get("security") == "none":
            raise ValueError(
                "a password is only sent over TLS: set `security` to starttls or implicit"
            )
        return v

    @field_validator("ca_file")
    @classmethod
    def _ca_for_tls(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and info.data.get("security") == "none":
            raise ValueError("`ca_file` is for TLS, and `security` is none")
        return v

    @model_validator(mode="after")
    def _login(self) -> SmtpChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("`username` and `password` go together: give both or neither")
        if self.api_base is not None:
            raise ValueError("`api_base` is for HTTP APIs: an smtp channel uses `host` and `port`")
        return self


# Address-shaped, as the SendGrid path checks (no spaces, commas or angle brackets).
_EMAIL_RE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")
# RFC 3463 enhanced status code at the start of a reply: "5.1.1 <x@y>: user unknown"
_ENHANCED_RE = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# Text parts are 7-bit on the wire (quoted-printable or base64, whichever is shorter), so no
# server needs 8BITMIME; header words outside ASCII are RFC 2047 encoded.


class _Policy(EmailPolicy):
    """SMTP's policy, except that a link header is written on one line: folded, Python would
    turn a long URL into RFC 2047 encoded words, which no mail client takes for a link."""

    def fold(self, name: str, value: str) -> str:
        whole = _whole(name, value)
        return super().fold(name, value) if whole is None else whole + self.linesep

    def fold_binary(self, name: str, value: str) -> bytes:
        whole = _whole(name, value)
        if whole is None:
            return super().fold_binary(name, value)
        return (whole + self.linesep).encode("ascii")


def _whole(name: str, value: str) -> str | None:
    line = f"{name}: {value}"
    if name.lower() in _LINK_HEADERS and line.isascii() and line.isprintable() and len(line) < 998:
        return line
    return None


_LINK_HEADERS = {"list-unsubscribe", "list-unsubscribe-post"}
_POLICY = _Policy(linesep=SMTP_POLICY.linesep, cte_type="7bit")
IDLE_SECONDS = 30.0  # a kept connection older than this is closed rather than reused


class _Unsupported(Exception):
    """What this channel's config requires cannot be had (the server offers no STARTTLS or
    AUTH, the CA file cannot be read): not transient, so not retried."""


@dataclass(slots=True)
class _Attempt:
    """How far one send got, for its outcome and for what becomes of its connection."""

    stage: str = "connect"
    client: aiosmtplib.SMTP | None = None
    reusable: bool = False  # the connection is between transactions: it may be kept


def _display_name(name: str) -> str:
    return " ".join(name.split())


def _address(name: str, address: str) -> Address:
    """Built from its parts: a non-ASCII mailbox (sent with SMTPUTF8) is then no defect."""
    user, _, domain = address.rpartition("@")
    return Address(display_name=name, username=user, domain=domain)


def sender_parts(sender: str) -> tuple[str, str]:
    """'Acme Status <status@acme.example>' → (name, address), as the config's rule reads it
    (a name may hold commas; a quoted one is unquoted); a bare address has no name."""
    m = _NAMED_ADDRESS_RE.fullmatch(sender)
    if m is None:
        return "", sender.strip()
    name = _display_name(m.group("name"))
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return name, m.group("address").strip()


def _recipient_refused(code: int, message: str) -> bool:
    """A 5xx to RCPT that is about this address (unknown mailbox, bad domain or syntax), not
    about us (relaying denied, policy, authentication): the address is rejected, not the send."""
    if code < 500:
        return False
    m = _ENHANCED_RE.match(message)
    if m is not None:
        return m.group(2) == "1"  # X.1.Y: addressing status
    return code in (550, 551, 553)


class Smtp:
    kind = "smtp"
    max_batch = 1
    concurrency = 4
    # the recipient's one-click unsubscribe link (set by the daemon:
    # detector.channels.links.attach); None: the status page
    links: subscription_links.Links | None = None

    def __init__(
        self,
        cfg: SmtpChannel,
        name: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.timeout = timeout  # for the whole send: connect, TLS, login and the message
        self.port = cfg.port or DEFAULT_PORTS[cfg.security]
        self._clock = clock or SystemClock()
        self._tls: ssl.SSLContext | None = None  # built on first use (it reads files)
        self._helo = local_hostname
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # (connection, when it was put back)
        self._log = logs.get("detector.channels.smtp", channel=name)
        self._password = cfg.password.get_secret_value() if cfg.password is not None else None
        self._secrets = (self._password,) if self._password else ()
        logs.register_secrets(self._secrets)
        self._from = sender_parts(cfg.from_)
        self.sender = self._from[1]  # MAIL FROM: where bounces go

    def wants(self, event: str) -> bool:
        return self.cfg.wants(event)

    # --- the message ------------------------------------------------------------------------

    def build(self, envelope: Envelope, recipient: Recipient) -> EmailMessage:
        """One recipient's message: the SendGrid path's headers and parts, in MIME."""
        assert recipient.email is not None
        message = envelope.message
        msg = EmailMessage(policy=_POLICY)
        name, address = self._from
        msg["From"] = _address(name, address)
        msg["To"] = _address(_display_name(recipient.name), recipient.email)
        msg["Subject"] = " ".join(message.subject.split())
        msg["Date"] = formatdate(self._clock.now(), usegmt=True)
        msg["Message-ID"] = self._message_id(envelope, recipient.email, address)
        link = _status_page(envelope.payload)
        if self.links is not None:
            for name, value in subscription_links.headers(
                self.links, envelope.payload, recipient.email
            ).items():
                msg[name] = value
        elif link:
            msg["List-Unsubscribe"] = f"<{link}>"
        msg["X-Detector-Notice-Id"] = envelope.notice_id
        if message.text or not message.html:
            msg.set_content(message.text)
            if message.html:
                msg.add_alternative(message.html, subtype="html")
        else:
            msg.set_content(message.html, subtype="html")
        return msg

    @staticmethod
    def _message_id(envelope: Envelope, to: str, sender: str) -> str:
        """The same for every try of this row and recipient: a receiver can drop a repeat."""
        digest = hashlib.sha256(f"{envelope.id}\0{to}".encode()).hexdigest()[:32]
        domain = sender.rpartition("@")[2]
        if not (domain.isascii() and re.fullmatch(r"[A-Za-z0-9.-]+", domain)):
            domain = "outage-detector.invalid"
        return f"<{digest}@{domain}>"

    # --- sending ----------------------------------------------------------------------------

    async def send(self, envelope: Envelope) -> Delivery:
        if not envelope.recipients:
            return Delivery(True, "no recipients")
        if len(envelope.recipients) > self.max_batch:
            return self._done(
                envelope,
                Delivery(
                    False,
                    f"SMTP takes one recipient per envelope, got {len(envelope.recipients)}",
                    permanent=True,
                ),
            )
        recipient = envelope.recipients[0]
        if not recipient.email or not _EMAIL_RE.fullmatch(recipient.email):
            return self._done(
                envelope,
                Delivery(True, "no valid e-mail address", rejected=[recipient]),
            )
        try:
            msg = self.build(envelope, recipient)
        except (ValueError, TypeError, IndexError, MessageError) as e:  # an address it refuses
            return self._done(
                envelope,
                Delivery(
                    True, f"cannot address the e-mail: {type(e).__name__}", rejected=[recipient]
                ),
            )
        return self._done(envelope, await self._send(msg, recipient))

    async def _send(self, msg: EmailMessage, recipient: Recipient) -> Delivery:
        attempt = _Attempt()
        try:
            async with asyncio.timeout(self.timeout):
                delivery = await self._transact(msg, recipient, attempt)
        except BaseException as e:
            if attempt.client is not None:
                attempt.client.close()  # whatever state it was left in, it is not reused
            if not isinstance(e, Exception):
                raise  # cancelled: the worker is stopping
            return self._failure(e, attempt.stage, recipient)
        if attempt.client is not None:
            if attempt.reusable:
                self._keep(attempt.client)
            else:
                attempt.client.close()
        return delivery

    async def _transact(self, msg: EmailMessage, recipient: Recipient, at: _Attempt) -> Delivery:
        """One message over a ready connection: MAIL FROM, RCPT TO, DATA."""
        assert recipient.email is not None
        at.client = client = await self._connection(at)
        utf8 = not (self.sender.isascii() and recipient.email.isascii())
        if utf8 and not client.supports_extension("smtputf8"):
            at.reusable = True  # nothing was begun on it
            if not self.sender.isascii():
                raise _Unsupported("the sender address is not ASCII and the server lacks SMTPUTF8")
            return Delivery(
                True, "the address is not ASCII and the server lacks SMTPUTF8", rejected=[recipient]
            )
        options = ["SMTPUTF8"] if utf8 else []
        encoding = "utf-8" if utf8 else "ascii"
        data = msg.as_bytes(policy=_POLICY.clone(utf8=True) if utf8 else _POLICY)
        if client.supports_extension("size"):
            options.append(f"SIZE={len(data)}")
        at.stage = "MAIL FROM"
        await client.mail(self.sender, options=options, encoding=encoding)
        at.stage = "RCPT TO"
        await client.rcpt(recipient.email, encoding=encoding)
        at.stage = "DATA"
        reply = await client.data(data)
        at.reusable = True
        return Delivery(True, f"accepted by the SMTP server: {reply.code} {reply.message}")

    def _failure(self, e: Exception, stage: str, recipient: Recipient) -> Delivery:
        import aiosmtplib

        if isinstance(e, TimeoutError):  # ours, or aiosmtplib's (a TimeoutError too)
            return Delivery(False, f"SMTP server did not answer within {self.timeout:g}s ({stage})")
        if isinstance(e, aiosmtplib.SMTPRecipientRefused):
            detail = f"SMTP {e.code} to RCPT TO: {e.message}"
            if _recipient_refused(e.code, e.message):
                return Delivery(True, detail, rejected=[recipient])
            return Delivery(False, detail, permanent=e.code >= 500)
        if isinstance(e, aiosmtplib.SMTPResponseException):
            # a refused greeting, STARTTLS, AUTH, MAIL FROM or DATA; 4xx (421: closing) is
            # worth another try, 5xx is not
            return Delivery(
                False, f"SMTP {e.code} to {stage}: {e.message}", permanent=e.code >= 500
            )
        if isinstance(e, _Unsupported):
            return Delivery(False, str(e), permanent=True)
        cause: BaseException | None = e
        while cause is not None:
            if isinstance(cause, ssl.SSLCertVerificationError):
                return Delivery(
                    False, f"the SMTP server's certificate is not trusted: {cause.verify_message}"
                )
            cause = cause.__cause__ or cause.__context__
        return Delivery(False, f"SMTP connection failed at {stage}: {type(e).__name__}")

    async def _connection(self, at: _Attempt) -> aiosmtplib.SMTP:
        """A kept connection that is still open, or a new one: connected, TLS as configured,
        logged in."""
        now = self._clock.monotonic()
        while self._idle:
            kept, since = self._idle.pop()
            if kept.is_connected and now - since < IDLE_SECONDS:
                return kept
            kept.close()
        if self._helo is None:
            self._helo = await asyncio.to_thread(socket.getfqdn)
        if self._tls is None and self.cfg.security != "none":
            self._tls = await asyncio.to_thread(self._tls_context)
        import aiosmtplib

        at.client = client = aiosmtplib.SMTP(
            hostname=self.cfg.host,
            port=self.port,
            local_hostname=self._helo,
            timeout=self.timeout,
            use_tls=self.cfg.security == "implicit",
            start_tls=False,  # done below, and required: never a silent fall back to plain text
            tls_context=self._tls if self.cfg.security == "implicit" else None,
        )
        await client.connect()
        at.stage = "EHLO"
        await client.ehlo()
        if self.cfg.security == "starttls":
            if not client.supports_extension("starttls"):
                raise _Unsupported("the SMTP server does not offer STARTTLS")
            at.stage = "STARTTLS"
            await client.starttls(tls_context=self._tls)
            await client.ehlo()
        if self.cfg.username is not None and self._password is not None:
            if not client.supported_auth_methods:
                raise _Unsupported(
                    "the SMTP server offers no AUTH mechanism we speak (PLAIN, LOGIN, CRAM-MD5)"
                )
            at.stage = "AUTH"
            await client.login(self.cfg.username, self._password)
        return client

    def _tls_context(self) -> ssl.SSLContext:
        """Verifying: the server's certificate must chain to a trusted CA and name `host`."""
        try:
            return ssl.create_default_context(cafile=self.cfg.ca_file)
        except (OSError, ssl.SSLError) as e:
            why = getattr(e, "strerror", None) or type(e).__name__
            raise _Unsupported(f"cannot load ca_file {self.cfg.ca_file}: {why}") from None

    def _keep(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.append((client, self._clock.monotonic()))

    def _done(self, envelope: Envelope, delivery: Delivery) -> Delivery:
        """Every outcome leaves here, its detail redacted for the log and the outbox row."""
        return logged(self._log, "smtp", envelope, redacted(delivery, *self._secrets))

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                async with asyncio.timeout(1.0):
                    await client.quit()
            except (TimeoutError, aiosmtplib.SMTPException, OSError):
                pass
            client.close()
