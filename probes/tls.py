"""tls: does the handshake verify for this host, and how long until the certificate expires?

A certificate the client would refuse (expired, wrong host, unknown issuer) is a full outage
of that endpoint for every customer, hence severity major_outage. One that is merely close to
expiry still works: a soft failure, so someone renews it before it becomes an outage.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time

from pydantic import Field

from detector.config.fields import Model
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure, fmt_duration
from probes.tcp import connect

# OpenSSL X509_V_ERR_* codes worth saying in plain words
_EXPIRED = 10
_NOT_YET_VALID = 9
_HOSTNAME_MISMATCH = 62


class TlsSpec(Model):
    host: str = Field(min_length=1)
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = None
    min_days_left: int = Field(default=14, ge=0)
    ca_file: str | None = None


@functools.lru_cache(maxsize=64)
def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying context per CA bundle: loading CAs costs milliseconds, so not per check."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise ProbeFailure(f"cannot load ca_file {ca_file}: {getattr(e, 'strerror', e)}") from None


def _refusal(e: ssl.SSLCertVerificationError, name: str) -> str:
    if e.verify_code == _EXPIRED:
        return "certificate has expired"
    if e.verify_code == _NOT_YET_VALID:
        return "certificate is not yet valid"
    if e.verify_code == _HOSTNAME_MISMATCH:
        return f"certificate is not valid for {name}"
    return f"certificate invalid: {e.verify_message or e.reason}"


def _days(n: int) -> str:
    if n < 1:
        return "under a day"
    return "1 day" if n == 1 else f"{n} days"


async def check(spec: TlsSpec, ctx: ProbeContext) -> Result:
    name = spec.server_name or spec.host
    context = ssl_context(spec.ca_file)
    conn = await connect(ctx, spec.host, spec.port)
    ctx.phase = "TLS handshake"
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    try:
        tls = await loop.start_tls(
            conn.transport, conn.protocol, context, server_hostname=name.strip("[]")
        )
    except BaseException as e:
        conn.transport.close()
        if isinstance(e, ssl.SSLCertVerificationError):
            raise ProbeFailure(_refusal(e, name), severity="major_outage") from None
        if isinstance(e, ssl.SSLError):
            detail = f"TLS handshake failed: {e.reason or e}"
            raise ProbeFailure(detail, severity="major_outage") from None
        raise
    if tls is None:
        conn.transport.close()
        raise ProbeFailure("connection closed during the TLS handshake")
    handshake = time.perf_counter() - start
    try:
        ssl_object = tls.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert() if ssl_object is not None else None
    finally:
        # no wait for the peer's close_notify: a slow goodbye must not turn a pass into a timeout
        tls.close()
    if not cert or "notAfter" not in cert:
        raise ProbeFailure("server sent no certificate", severity="major_outage")
    seconds_left = ssl.cert_time_to_seconds(str(cert["notAfter"])) - time.time()
    days_left = int(seconds_left // 86400)
    if days_left < spec.min_days_left:
        return Result(
            ok=True,
            duration=0.0,
            soft_fail=True,
            detail=f"certificate expires in {_days(days_left)}",
        )
    return Result(
        ok=True,
        duration=0.0,
        detail=f"handshake in {fmt_duration(handshake)}, certificate expires in {_days(days_left)}",
    )
