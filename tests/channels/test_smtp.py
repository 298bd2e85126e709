"""SMTP channel against a local aiosmtpd server: the SendGrid path's message, over real SMTP
(plain, STARTTLS and implicit TLS with a trustme certificate, AUTH)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from detector.channels.base import Envelope, Recipient
from detector.channels.links import Links
from detector.channels.sendgrid import SendGrid, SendgridChannel
from detector.channels.smtp import Smtp, SmtpChannel
from detector.notices.model import Message
from tests.clock import FakeClock
from tests.doubles.sendgrid_double import DEFAULT_KEY, start_sendgrid_double
from tests.doubles.smtp_double import SmtpDouble, problems, start_smtp_double

STATUS_PAGE = "https://status.acme.example/"
SENDER = "Acme Status <status@acme.example>"
PASSWORD = "smtp-password-0123456789"
GLOBEX = Recipient("Globex Operations", email="ops@globex.example")

MESSAGE = Message(
    locale="pl",
    subject="Awaria: publiczne API nie działa",
    text=(
        "Przepraszamy: nie możesz połączyć się z API od 10:02.\n\n"
        "Następna aktualizacja o 10:17.\n\n"
        "Jane Doe, szefowa operacji, ops@acme.example\n" + "Zażółć gęślą jaźń. " * 80 + "\n"
    ),
    html="<p>Przepraszamy: nie możesz połączyć się z API od 10:02.</p>\n<p>Jane Doe</p>",
    sms="API nie działa",
)


def envelope(recipients: list[Recipient], row: str = "api-1a2b.1/smtp-0/0") -> Envelope:
    return Envelope(
        id=row,
        notice_id="api-1a2b.1",
        event="incident.opened",
        message=MESSAGE,
        payload={"status_page_url": STATUS_PAGE},
        recipients=recipients,
    )


def config(port: int, sender: str = SENDER, **over: Any) -> SmtpChannel:
    raw: dict[str, Any] = {
        "type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": sender,
        **over,
    }
    return SmtpChannel.model_validate(raw)


def channel(port: int, ca_file: Path | None = None, sender: str = SENDER, **over: Any) -> Smtp:
    if ca_file is not None:
        over["ca_file"] = str(ca_file)
    return Smtp(
        config(port, sender, **over),
        "smtp-0",
        timeout=5.0,
        clock=FakeClock(),
        local_hostname="detector.test",
    )


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    return ctx


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The CA as an operator gives it: a PEM file named by `ca_file`."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
async def double() -> AsyncIterator[SmtpDouble]:
    d = await start_smtp_double()
    yield d
    await d.stop()


def text_of(msg: EmailMessage, subtype: str) -> str:
    part = msg.get_body((subtype,))
    assert part is not None, f"no text/{subtype} part"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


# --- the same message as the SendGrid path ----------------------------------------------------


async def test_smtp_delivers_the_notice_with_the_sendgrid_paths_headers_and_text(
    double: SmtpDouble,
) -> None:
    sendgrid = await start_sendgrid_double()
    sg = SendGrid(
        SendgridChannel.model_validate(
            {"type": "sendgrid", "api_key": DEFAULT_KEY, "from": SENDER, "api_base": sendgrid.url}
        ),
        "sendgrid-0",
    )
    smtp = channel(double.port)
    try:
        assert (await sg.send(envelope([GLOBEX]))).ok
        delivery = await smtp.send(envelope([GLOBEX]))
    finally:
        await sg.close()
        await smtp.close()
        await sendgrid.stop()
    assert delivery.ok and delivery.rejected == [], delivery
    assert "queued as" in delivery.detail
    [request] = sendgrid.requests
    body = request.body
    [mail] = double.messages
    msg = mail.message
    assert mail.mail_from == "status@acme.example"
    assert mail.rcpt_tos == ["ops@globex.example"]

    # From, To and Subject as SendGrid sends them
    assert parseaddr(str(msg["From"])) == (body["from"]["name"], body["from"]["email"])
    [to] = body["personalizations"][0]["to"]
    assert parseaddr(str(msg["To"])) == (to["name"], to["email"])
    assert msg["Subject"] == body["subject"] == MESSAGE.subject
    # every header the SendGrid path sets, with the same value
    assert body["headers"] == {
        "List-Unsubscribe": f"<{STATUS_PAGE}>",
        "X-Detector-Notice-Id": "api-1a2b.1",
    }
    for name, value in body["headers"].items():
        assert msg[name] == value, name
    # the same text and HTML, as multipart/alternative with the text first (as SendGrid sends)
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = [p.get_content_type() for p in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert text_of(msg, "plain").rstrip("\n") == body["content"][0]["value"].rstrip("\n")
    assert text_of(msg, "html").rstrip("\n") == body["content"][1]["value"].rstrip("\n")
    # and what SendGrid adds on its side: a date and a message id
    assert parsedate_to_datetime(str(msg["Date"])).timestamp() == FakeClock().now()
    assert str(msg["Message-ID"]).endswith("@acme.example>")
    # 7-bit on the wire: no server needs 8BITMIME for Polish, Arabic or anything else
    assert all(b < 128 for b in mail.raw)
    assert [o.partition("=")[0] for o in mail.mail_options] == ["SIZE"]  # announced


async def test_each_customer_gets_a_message_addressed_to_them_alone(double: SmtpDouble) -> None:
    smtp = channel(double.port)
    people = [Recipient(f"Customer {i}", email=f"ops{i}@customer{i}.example") for i in range(3)]
    try:
        for i, person in enumerate(people):
            d = await smtp.send(envelope([person], row=f"api-1a2b.1/smtp-0/{i}"))
            assert d.ok, d
    finally:
        await smtp.close()
    assert [m.rcpt_tos for m in double.messages] == [[p.email] for p in people]
    for m, person in zip(double.messages, people, strict=True):
        assert m.message.get_all("To") == [f"{person.name} <{person.email}>"]
        assert m.message.get_all("Cc") is None and m.message.get_all("Bcc") is None
    assert double.connections == 1  # one connection, kept for the whole batch
    assert double.refusals == []


async def test_a_retry_carries_the_same_message_id(double: SmtpDouble) -> None:
    smtp = channel(double.port)
    try:
        assert (await smtp.send(envelope([GLOBEX]))).ok
        assert (await smtp.send(envelope([GLOBEX]))).ok
        assert (await smtp.send(envelope([GLOBEX], row="api-1a2b.2/smtp-0/0"))).ok
    finally:
        await smtp.close()
    first, retry, next_notice = (m.message["Message-ID"] for m in double.messages)
    assert first == retry != next_notice


async def test_names_with_commas_and_non_ascii_are_quoted_and_encoded(double: SmtpDouble) -> None:
    smtp = channel(double.port, sender='"Acme, Statut" <status@acme.example>')
    person = Recipient('Zakład "Globex", Łódź', email="ops@globex.example")
    try:
        d = await smtp.send(envelope([person]))
    finally:
        await smtp.close()
    assert d.ok and d.rejected == [], d
    [m] = double.messages
    assert m.message["To"].addresses[0].display_name == 'Zakład "Globex", Łódź'
    assert m.message["From"].addresses[0].display_name == "Acme, Statut"
    assert all(b < 128 for b in m.raw)


async def test_no_status_page_no_list_unsubscribe(double: SmtpDouble) -> None:
    smtp = channel(double.port)
    env = envelope([GLOBEX])
    bad_link = Envelope(
        env.id, env.notice_id, env.event, env.message, {"status_page_url": "javascript:x"}, [GLOBEX]
    )
    try:
        assert (await smtp.send(bad_link)).ok
    finally:
        await smtp.close()
    assert double.messages[0].message["List-Unsubscribe"] is None


# --- TLS and AUTH ------------------------------------------------------------------------------


async def test_starttls_and_auth(server_tls: ssl.SSLContext, ca_file: Path) -> None:
    double = await start_smtp_double(tls=server_tls, users={"status": PASSWORD})
    smtp = channel(
        double.port,
        ca_file,
        security="starttls",
        username="status",
        password=PASSWORD,
    )
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
        await double.stop()
    assert d.ok, d
    [m] = double.messages
    assert m.tls and m.login == "status"
    assert double.logins == [("status", True)]


async def test_implicit_tls(server_tls: ssl.SSLContext, ca_file: Path) -> None:
    double = await start_smtp_double(tls=server_tls, implicit=True, users={"status": PASSWORD})
    smtp = channel(double.port, ca_file, security="implicit", username="status", password=PASSWORD)
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
        await double.stop()
    assert d.ok, d
    assert [(m.tls, m.login) for m in double.messages] == [(True, "status")]


async def test_a_certificate_we_do_not_trust_gets_nothing(
    server_tls: ssl.SSLContext, tmp_path: Path
) -> None:
    double = await start_smtp_double(tls=server_tls)
    stranger = tmp_path / "another-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))  # trusts another CA only
    smtp = channel(double.port, stranger, security="starttls")
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
        await double.stop()
    assert not d.ok and not d.permanent
    assert "certificate is not trusted" in d.detail
    assert double.messages == []


async def test_starttls_required_but_not_offered_sends_nothing(
    double: SmtpDouble, ca_file: Path
) -> None:
    smtp = channel(double.port, ca_file, security="starttls")
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
    assert not d.ok and d.permanent
    assert d.detail == "the SMTP server does not offer STARTTLS"
    assert double.messages == []


async def test_a_wrong_password_is_permanent_and_never_in_the_detail(
    server_tls: ssl.SSLContext, ca_file: Path
) -> None:
    double = await start_smtp_double(tls=server_tls, users={"status": "the-right-one-0123"})
    smtp = channel(double.port, ca_file, security="starttls", username="status", password=PASSWORD)
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
        await double.stop()
    assert not d.ok and d.permanent
    assert d.detail.startswith("SMTP 535 to AUTH")
    assert PASSWORD not in d.detail
    assert double.logins and all(not ok for _, ok in double.logins)
    assert double.messages == []


async def test_a_ca_file_that_cannot_be_read_is_permanent(tmp_path: Path) -> None:
    double = await start_smtp_double()  # never reached: the CA comes first
    smtp = channel(double.port, tmp_path / "missing.pem", security="implicit")
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
        await double.stop()
    assert not d.ok and d.permanent
    assert d.detail.startswith(f"cannot load ca_file {tmp_path / 'missing.pem'}")
    assert double.connections == 0


# --- refusals and faults ------------------------------------------------------------------------


async def test_an_unknown_mailbox_is_rejected_not_retried(double: SmtpDouble) -> None:
    double.unknown.add("ops@globex.example")
    smtp = channel(double.port)
    try:
        d = await smtp.send(envelope([GLOBEX]))
        after = await smtp.send(envelope([Recipient("Other", email="it@other.example")]))
    finally:
        await smtp.close()
    assert d.ok and d.rejected == [GLOBEX]
    assert d.detail.startswith("SMTP 550 to RCPT TO")
    assert after.ok and [m.rcpt_tos for m in double.messages] == [["it@other.example"]]


async def test_relaying_denied_is_our_problem_not_the_address(double: SmtpDouble) -> None:
    double.fail_next("RCPT", 554, "5.7.1 <ops@globex.example>: Relay access denied")
    smtp = channel(double.port)
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
    assert not d.ok and d.permanent and d.rejected == []


@pytest.mark.parametrize(
    ("stage", "code", "text"),
    [
        ("MAIL", 451, "4.3.0 Temporary lookup failure"),
        ("RCPT", 450, "4.2.0 Greylisted, come back later"),
        ("DATA", 452, "4.3.1 Insufficient system storage"),
        ("MAIL", 421, "4.7.0 Too many connections, closing"),
    ],
)
async def test_a_temporary_refusal_is_retried_and_the_next_try_goes_through(
    double: SmtpDouble, stage: str, code: int, text: str
) -> None:
    double.fail_next(stage, code, text)
    smtp = channel(double.port)
    try:
        first = await smtp.send(envelope([GLOBEX]))
        second = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
    assert not first.ok and not first.permanent and first.rejected == []
    assert first.detail.startswith(f"SMTP {code} to ")
    assert second.ok and len(double.messages) == 1


async def test_a_refused_message_is_permanent(double: SmtpDouble) -> None:
    double.fail_next("DATA", 552, "5.3.4 Message size exceeds fixed limit")
    smtp = channel(double.port)
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
    assert not d.ok and d.permanent and d.detail.startswith("SMTP 552 to DATA")


async def test_a_server_that_does_not_answer_times_out(double: SmtpDouble) -> None:
    double.hang_next("DATA")
    smtp = Smtp(config(double.port), "smtp-0", timeout=1.0, local_hostname="detector.test")
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
    assert not d.ok and not d.permanent
    assert d.detail.startswith("SMTP server did not answer within 1s (")
    assert double.messages == []


async def test_nobody_listening_is_retried() -> None:
    double = await start_smtp_double()
    port = double.port
    await double.stop()
    smtp = channel(port)
    try:
        d = await smtp.send(envelope([GLOBEX]))
    finally:
        await smtp.close()
    assert not d.ok and not d.permanent
    assert d.detail.startswith("SMTP connection failed at connect")


async def test_a_connection_the_server_closed_is_replaced(double: SmtpDouble) -> None:
    smtp = channel(double.port)
    try:
        assert (await smtp.send(envelope([GLOBEX]))).ok
        double.drop_connections()
        for _ in range(500):  # until the client has seen it closed
            if not any(c.is_connected for c, _ in smtp._idle):
                break
            await asyncio.sleep(0.01)
        assert (await smtp.send(envelope([GLOBEX]))).ok
    finally:
        await smtp.close()
    assert double.connections == 2 and len(double.messages) == 2


async def test_a_connection_idle_too_long_is_not_reused(double: SmtpDouble) -> None:
    clock = FakeClock()
    smtp = Smtp(config(double.port), "smtp-0", clock=clock, local_hostname="detector.test")
    try:
        assert (await smtp.send(envelope([GLOBEX]))).ok
        clock.advance(10)
        assert (await smtp.send(envelope([GLOBEX]))).ok
        clock.advance(31)
        assert (await smtp.send(envelope([GLOBEX]))).ok
    finally:
        await smtp.close()
    assert double.connections == 2


async def test_addresses_without_a_mailbox_are_rejected_without_a_connection(
    double: SmtpDouble,
) -> None:
    smtp = channel(double.port)
    try:
        phone_only = Recipient("Phone", phone="+15550100")
        typo = Recipient("Typo", email="ops@nowhere")
        assert (await smtp.send(envelope([phone_only]))).rejected == [phone_only]
        assert (await smtp.send(envelope([typo]))).rejected == [typo]
        assert (await smtp.send(envelope([]))).ok
        two = await smtp.send(envelope([GLOBEX, GLOBEX]))
    finally:
        await smtp.close()
    assert not two.ok and two.permanent
    assert double.connections == 0


async def test_a_non_ascii_mailbox_needs_smtputf8() -> None:
    person = Recipient("Łukasz", email="łukasz@przykład.example")
    with_utf8, without = await start_smtp_double(), await start_smtp_double(smtputf8=False)
    a, b = channel(with_utf8.port), channel(without.port)
    try:
        sent = await a.send(envelope([person]))
        refused = await b.send(envelope([person]))
    finally:
        for ch in (a, b):
            await ch.close()
        for d in (with_utf8, without):
            await d.stop()
    assert sent.ok and sent.rejected == []
    [m] = with_utf8.messages
    assert "SMTPUTF8" in m.mail_options and m.rcpt_tos == [person.email]
    assert refused.ok and refused.rejected == [person] and without.messages == []


# --- the double checks what a receiving server checks -----------------------------------------


def test_the_double_refuses_what_a_careful_server_refuses() -> None:
    ok = (
        b"From: a@acme.example\r\nTo: b@globex.example\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        b"Message-ID: <1@acme.example>\r\nSubject: x\r\n\r\nbody\r\n"
    )
    assert problems(ok, [], ["b@globex.example"]) == []
    assert problems(ok, [], ["c@initech.example"]) == [
        "the headers show addresses that are not recipients: b@globex.example"
    ]
    leaky = ok.replace(b"To: b@globex.example", b"To: b@globex.example\r\nBcc: c@initech.example")
    assert problems(leaky, [], ["b@globex.example", "c@initech.example"]) == [
        "1 Bcc header(s), expected 0..0"
    ]
    assert problems(ok.replace(b"Message-ID: <1@acme.example>\r\n", b""), [], ["b@globex.example"])
    assert problems(ok.replace(b"body", "zażółć".encode()), [], ["b@globex.example"]) == [
        "8-bit data without BODY=8BITMIME or SMTPUTF8"
    ]
    assert problems(ok.replace(b"body\r\n", b"body\nmore\r\n"), [], ["b@globex.example"]) == [
        "bare LF in the message (lines end with CRLF)"
    ]
    assert problems(ok.replace(b"body", b"x" * 999), [], ["b@globex.example"]) == [
        "a line longer than 998 octets"
    ]


# --- config -------------------------------------------------------------------------------------


def test_ports_follow_the_security() -> None:
    base = {"type": "smtp", "host": "mail.acme.example", "from": SENDER}
    ports = {
        s: Smtp(SmtpChannel.model_validate({**base, "security": s}), "smtp-0").port
        for s in ("starttls", "implicit", "none")
    }
    assert ports == {"starttls": 587, "implicit": 465, "none": 25}
    assert SmtpChannel.model_validate(base).security == "starttls"


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"security": "none", "username": "u", "password": "p"}, "only sent over TLS"),
        ({"username": "u"}, "go together"),
        ({"password": "p"}, "go together"),
        ({"api_base": "http://127.0.0.1:1/"}, "uses `host` and `port`"),
        ({"host": "mail.acme.example:587"}, "the port goes in `port`"),
        ({"from": "not an address"}, "not an e-mail address"),
        ({"password": ""}, "must not be empty"),
        ({"security": "none", "ca_file": "ca.pem"}, "is for TLS, and `security` is none"),
    ],
)
def test_config_mistakes_are_named(over: dict[str, Any], words: str) -> None:
    raw = {"type": "smtp", "host": "mail.acme.example", "from": SENDER, **over}
    with pytest.raises(ValidationError, match=words):
        SmtpChannel.model_validate(raw)


async def test_the_recipients_own_one_click_unsubscribe(double: SmtpDouble) -> None:
    """RFC 8058 headers for this recipient, whole on the wire (a long URL is not folded or
    encoded); a confirmation request carries none."""
    links = Links(STATUS_PAGE, (b"k" * 32,))
    smtp = channel(double.port)
    smtp.links = links
    env = envelope([GLOBEX])
    transactional = Envelope(
        "row-2",
        "subscription.x",
        "subscription.confirm",
        MESSAGE,
        {"transactional": True},
        [GLOBEX],
    )
    try:
        assert (await smtp.send(env)).ok
        assert (await smtp.send(transactional)).ok
    finally:
        await smtp.close()
    url = links.unsubscribe_url("ops@globex.example")
    first, second = double.messages
    assert first.message["List-Unsubscribe"] == f"<{url}>"
    assert first.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert f"List-Unsubscribe: <{url}>".encode() in first.raw.replace(b"\r\n ", b" ")
    assert second.message["List-Unsubscribe"] is None
    assert second.message["List-Unsubscribe-Post"] is None
