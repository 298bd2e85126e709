"""A local mail server (aiosmtpd, in the test's own event loop) that checks what a careful
receiving server checks, and keeps every message it accepts.

The SMTP conversation is aiosmtpd's: STARTTLS (required when given a certificate, RFC 3207),
implicit TLS, AUTH (required when given users, only over TLS), SIZE, 8BITMIME, SMTPUTF8, lines
of at most 998 octets. The message is checked as big providers check it (RFC 5322 and their
own rules), each failure a 554 5.6.0 naming the problem: exactly one From, Date and Message-ID,
at most one Subject; 8-bit bytes only after BODY=8BITMIME or SMTPUTF8; no bare LF; and for
privacy, no Bcc header and no address in To or Cc that is not a recipient of this very
transaction (nobody sees who else was told).

Faults are scripted per stage ("MAIL", "RCPT", "DATA"): a reply code (`fail_next`), or no reply
at all until stop (`hang_next`); `unknown` holds mailboxes refused at RCPT with 550 5.1.1.
"""

from __future__ import annotations

import asyncio
import email
import re
import ssl
import warnings
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as DEFAULT_POLICY
from email.utils import getaddresses
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOSTNAME = "smtp-double.test"  # given, so that aiosmtpd does not look up the machine's name
_BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True, slots=True)
class SmtpMessage:
    """One accepted message, as the server saw it."""

    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    raw: bytes  # the DATA, CRLF line endings, dot-stuffing removed
    message: EmailMessage  # parsed with the modern policy
    tls: bool  # it came over TLS (STARTTLS or implicit)
    login: str | None  # the AUTH user, if any


@dataclass(frozen=True, slots=True)
class _Fault:
    code: int  # 0: no reply (hang)
    text: str


def problems(raw: bytes, mail_options: list[str], rcpt_tos: list[str]) -> list[str]:
    """Every reason this server refuses the message `raw` from this transaction."""
    out: list[str] = []
    if _BARE_LF.search(raw):
        out.append("bare LF in the message (lines end with CRLF)")
    if any(len(line) > 998 for line in raw.split(b"\r\n")):
        out.append("a line longer than 998 octets")
    eight_bit = {o.upper() for o in mail_options} & {"BODY=8BITMIME", "SMTPUTF8"}
    if not eight_bit and any(b > 127 for b in raw):
        out.append("8-bit data without BODY=8BITMIME or SMTPUTF8")
    msg = email.message_from_bytes(raw, policy=DEFAULT_POLICY)
    assert isinstance(msg, EmailMessage)
    for name, low, high in (
        ("From", 1, 1),
        ("Date", 1, 1),
        ("Message-ID", 1, 1),
        ("Subject", 0, 1),
        ("To", 0, 1),
        ("Cc", 0, 1),
        ("Bcc", 0, 0),
    ):
        n = len(msg.get_all(name) or [])
        if not low <= n <= high:
            out.append(f"{n} {name} header(s), expected {low}..{high}")
    if not msg.get_all("To") and not msg.get_all("Cc"):
        out.append("no To or Cc header")
    told = {r.lower() for r in rcpt_tos}
    shown = [
        a for _, a in getaddresses([str(v) for v in msg.get_all("To", []) + msg.get_all("Cc", [])])
    ]
    others = sorted(a for a in shown if a.lower() not in told)
    if others:
        out.append(f"the headers show addresses that are not recipients: {', '.join(others)}")
    return out


class _Handler:
    def __init__(self, double: SmtpDouble) -> None:
        self.double = double

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        fault = await self.double._fault("MAIL")
        if fault:
            return fault
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = await self.double._fault("RCPT")
        if fault:
            return fault
        if address.lower() in self.double.unknown:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        fault = await self.double._fault("DATA")
        if fault:
            return fault
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        refused = problems(raw, envelope.mail_options, envelope.rcpt_tos)
        if refused:
            self.double.refusals.extend(refused)
            return "554 5.6.0 " + "; ".join(refused)
        msg = email.message_from_bytes(raw, policy=DEFAULT_POLICY)
        assert isinstance(msg, EmailMessage)
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        login = session.auth_data if isinstance(session.auth_data, str) else None
        self.double.messages.append(
            SmtpMessage(
                mail_from,
                list(envelope.rcpt_tos),
                list(envelope.mail_options),
                raw,
                msg,
                tls,
                login,
            )
        )
        queue_id = f"Q{len(self.double.messages):05d}"
        return f"250 2.0.0 Ok: queued as {queue_id}"


class SmtpDouble:
    """`tls`: a server certificate; with `implicit` the connection starts in TLS, else
    STARTTLS is offered and required. `users`: AUTH required, with these passwords."""

    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        implicit: bool = False,
        users: dict[str, str] | None = None,
        smtputf8: bool = True,
    ) -> None:
        self.tls = tls
        self.implicit = implicit
        self.users = users
        self.smtputf8 = smtputf8
        self.host = "127.0.0.1"
        self.port = 0
        self.messages: list[SmtpMessage] = []
        self.refusals: list[str] = []  # every DATA refused by the checks, with its reasons
        self.unknown: set[str] = set()  # lower-case mailboxes refused with 550 5.1.1
        self.connections = 0  # every connection accepted
        self.logins: list[tuple[str, bool]] = []  # (user, accepted) per AUTH
        self._faults: dict[str, deque[_Fault]] = {"MAIL": deque(), "RCPT": deque(), "DATA": deque()}
        self._server: asyncio.Server | None = None
        self._protocols: list[SMTP] = []
        self._released = asyncio.Event()

    # --- scripting ------------------------------------------------------------------------

    def fail_next(self, stage: str, code: int, text: str, n: int = 1) -> None:
        """The next n commands of `stage` (MAIL, RCPT or DATA) get `code text`."""
        self._faults[stage].extend(_Fault(code, text) for _ in range(n))

    def hang_next(self, stage: str, n: int = 1) -> None:
        """The next n commands of `stage` get no reply until stop()."""
        self._faults[stage].extend(_Fault(0, "") for _ in range(n))

    def drop_connections(self) -> None:
        """Close every open connection from the server's side, as an idle timeout does."""
        for p in self._protocols:
            if p.transport is not None:
                p.transport.close()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            "127.0.0.1",
            0,
            ssl=self.tls if self.implicit else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._released.set()
        self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await asyncio.sleep(0)  # let the closed connections' handlers finish

    # --- internals ------------------------------------------------------------------------

    def _protocol(self) -> SMTP:
        self.connections += 1
        auth: dict[str, Any] = {}
        if self.users is not None:
            # over implicit TLS, aiosmtpd does not know the connection is encrypted
            auth = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "auth_require_tls": not self.implicit,
            }
        with warnings.catch_warnings():
            # AUTH without required TLS: over implicit TLS it is TLS, which aiosmtpd cannot see
            warnings.simplefilter("ignore", UserWarning)
            server = self._server_protocol(auth)
        self._protocols.append(server)
        return server

    def _server_protocol(self, auth: dict[str, Any]) -> SMTP:
        return SMTP(
            _Handler(self),
            hostname=HOSTNAME,
            ident="smtp-double",
            tls_context=None if self.implicit else self.tls,
            require_starttls=self.tls is not None and not self.implicit,
            enable_SMTPUTF8=self.smtputf8,
            timeout=30,
            **auth,
        )

    def _authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.users is None:
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        ok = self.users.get(user) == auth_data.password.decode("utf-8", "replace")
        self.logins.append((user, ok))
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    async def _fault(self, stage: str) -> str | None:
        queue = self._faults[stage]
        if not queue:
            return None
        fault = queue.popleft()
        if fault.code == 0:
            await self._released.wait()
            return "421 4.3.2 shutting down"
        return f"{fault.code} {fault.text}"


async def start_smtp_double(
    *,
    tls: ssl.SSLContext | None = None,
    implicit: bool = False,
    users: dict[str, str] | None = None,
    smtputf8: bool = True,
) -> SmtpDouble:
    """A running server; call `await double.stop()` when done."""
    double = SmtpDouble(tls=tls, implicit=implicit, users=users, smtputf8=smtputf8)
    await double.start()
    return double
