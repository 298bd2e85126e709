"""Turning what went wrong into the one-line `detail` an operator reads in evidence.

The wording is for a person reading a post-mortem at 3 a.m.: what failed and where, no
tracebacks, no URLs with credentials, no header values.
"""

from __future__ import annotations

import asyncio
import errno
import re
import socket
import ssl

import aiohttp
import dns.exception

MAX_DETAIL = 240

# scheme://user:pass@host → scheme://host, and ?query (tokens live there) → ?…
_USERINFO_RE = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")
_QUERY_RE = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s?#]*)\?[^\s#]*")


class ProbeFailure(Exception):
    """Raised by a probe when it knows exactly what to say; the runner makes it a failed Result."""

    def __init__(self, detail: str, severity: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.severity = severity


def fmt_duration(seconds: float) -> str:
    """'0.4 ms', '41 ms', '1.2 s', '5 s': short and unit-bearing, for details and the table."""
    ms = seconds * 1000.0
    if ms < 1:
        return f"{ms:.1f} ms"
    if ms < 999.5:
        return f"{ms:.0f} ms"
    text = f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
    return f"{text.removesuffix('.0')} s"


def one_line(text: str) -> str:
    """Collapse whitespace, scrub URL credentials and query strings, and bound the length."""
    text = " ".join(text.split())
    text = _USERINFO_RE.sub(r"\1", text)
    text = _QUERY_RE.sub(r"\1?…", text)
    if len(text) > MAX_DETAIL:
        text = text[: MAX_DETAIL - 1] + "…"
    return text


def _os_error(e: OSError) -> str:
    if isinstance(e, socket.gaierror):
        return f"DNS lookup failed: {e.strerror or e}"
    if isinstance(e, ConnectionRefusedError) or e.errno == errno.ECONNREFUSED:
        return "connection refused"
    if isinstance(e, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(e, ssl.SSLCertVerificationError):
        return f"certificate invalid: {e.verify_message or e.reason}"
    if isinstance(e, ssl.SSLError):
        return f"TLS handshake failed: {e.reason or e}"
    if e.strerror:
        return str(e.strerror).lower() if e.strerror[:1].isupper() else str(e.strerror)
    # asyncio joins the errors of every address it tried: "Multiple exceptions: [Errno 111] ..."
    if "Connect call failed" in str(e) and f"Errno {errno.ECONNREFUSED}]" in str(e):
        return "connection refused"
    return str(e) or type(e).__name__


def describe(e: BaseException) -> str:
    """A one-line, secret-free description of an exception raised during a check."""
    if isinstance(e, ProbeFailure):
        return e.detail
    if isinstance(e, aiohttp.ClientConnectorDNSError):
        return f"DNS lookup failed for {e.host}: {e.os_error.strerror or e.os_error}"
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        cert = e.certificate_error
        if isinstance(cert, ssl.SSLCertVerificationError):
            return f"certificate invalid: {cert.verify_message or cert.reason}"
        return f"certificate invalid: {cert}"
    if isinstance(e, aiohttp.ClientConnectorSSLError):
        return f"TLS handshake failed: {e.os_error}"
    if isinstance(e, aiohttp.ClientProxyConnectionError):
        return f"cannot reach the proxy: {_os_error(e.os_error)}"
    if isinstance(e, aiohttp.ClientConnectorError):
        return _os_error(e.os_error)
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "server closed the connection without answering"
    if isinstance(e, aiohttp.TooManyRedirects):
        return "too many redirects"
    if isinstance(e, aiohttp.InvalidURL):
        return f"invalid URL: {e.description or e.url}"
    if isinstance(e, aiohttp.ClientPayloadError):
        return f"body read failed: {e}"
    if isinstance(e, aiohttp.ClientResponseError):
        return f"malformed HTTP response: {e.message}"
    if isinstance(e, asyncio.IncompleteReadError):
        return "connection closed before the answer was complete"
    if isinstance(e, dns.exception.Timeout):
        return "DNS query timed out"
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError):
        return _os_error(e)
    if isinstance(e, aiohttp.ClientError):
        return f"HTTP client error: {e}"
    return f"probe error: {type(e).__name__}: {e}"
