"""grpc: does the server say it is SERVING? (the standard gRPC health checking protocol)

One `grpc.health.v1.Health/Check` call on a fresh channel per check (like http's default: a
connection that a customer's client would have to open anyway). SERVING passes; NOT_SERVING,
UNKNOWN, SERVICE_UNKNOWN, a service the server does not know, a server without the health
service, an unreachable server and a timeout fail, each with its own one-line detail.

The module is `grpc_health`, not `grpc`, so that `import grpc` always means the library, which
is imported on the first check: grpc costs ~11 MB of memory in every daemon that has no grpc
probe.
"""

from __future__ import annotations

import functools
import os
import time
from typing import TYPE_CHECKING

# grpc-core writes log lines of its own (a failed TLS handshake, at INFO) straight to stderr,
# between the detector's structured logs and across `detector probe`'s table, though the check's
# detail already says what happened. It reads this once, when grpc is first imported; an
# operator's own GRPC_VERBOSITY wins.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")

from pydantic import Field, field_validator, model_validator

from detector import __version__
from detector.config.fields import Model
from probes.base import ProbeContext, Result
from probes.errors import ProbeFailure, fmt_duration

if TYPE_CHECKING:
    import grpc
    import grpc.aio

CHECK = "/grpc.health.v1.Health/Check"
USER_AGENT = f"outage-detector/{__version__}"


class GrpcSpec(Model):
    target: str = Field(min_length=1)
    service: str = ""
    tls: bool = False
    server_name: str | None = None
    ca_file: str | None = None

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host.strip("[]") or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"not host:port: {v!r}")
        return v

    @model_validator(mode="after")
    def _tls_keys(self) -> GrpcSpec:
        given = [k for k in ("server_name", "ca_file") if getattr(self, k) is not None]
        if given and not self.tls:
            raise ValueError(
                f"{' and '.join(given)} {'need' if len(given) > 1 else 'needs'} tls: true"
            )
        return self


@functools.lru_cache(maxsize=64)
def credentials(ca_file: str | None) -> grpc.ChannelCredentials:
    """TLS credentials per CA bundle (the system's roots when None), read once, not per check."""
    import grpc

    roots = None
    if ca_file is not None:
        try:
            with open(ca_file, "rb") as f:
                roots = f.read()
        except OSError as e:
            raise ProbeFailure(f"cannot read ca_file {ca_file}: {e.strerror or e}") from None
    return grpc.ssl_channel_credentials(root_certificates=roots)


def _subject(service: str) -> str:
    return f"service {service}" if service else "server"


def _status_name(status: int) -> str:
    from grpc_health.v1 import health_pb2

    try:
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(status))
    except ValueError:
        return f"status {status}"


def _rpc_problem(e: grpc.aio.AioRpcError, spec: GrpcSpec, timeout: float) -> str:
    import grpc

    code, details = e.code(), (e.details() or "").strip()
    if code == grpc.StatusCode.NOT_FOUND:
        return f"the health server does not know the service {spec.service!r}"
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return "the server does not implement grpc.health.v1 health checking"
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"health check timeout after {fmt_duration(timeout)}"
    if code == grpc.StatusCode.UNAVAILABLE:
        return f"unreachable (UNAVAILABLE): {details or 'no details'}"
    return f"health check failed ({code.name}): {details or 'no details'}"


async def check(spec: GrpcSpec, ctx: ProbeContext) -> Result:
    import grpc
    import grpc.aio
    from grpc_health.v1 import health_pb2

    options: list[tuple[str, str | int]] = [("grpc.primary_user_agent", USER_AGENT)]
    if spec.tls:
        if spec.server_name:
            options.append(("grpc.ssl_target_name_override", spec.server_name))
        channel = grpc.aio.secure_channel(spec.target, credentials(spec.ca_file), options)
    else:
        channel = grpc.aio.insecure_channel(spec.target, options)
    ctx.phase = "health check"
    try:
        call = channel.unary_unary(
            CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        start = time.perf_counter()
        # the deadline goes to the server too, so it can stop working on a check nobody awaits
        reply = await call(health_pb2.HealthCheckRequest(service=spec.service), timeout=ctx.timeout)
        elapsed = time.perf_counter() - start
    except grpc.aio.AioRpcError as e:
        raise ProbeFailure(_rpc_problem(e, spec, ctx.timeout)) from None
    finally:
        await channel.close()
    status = _status_name(reply.status)
    detail = f"{_subject(spec.service)} {status}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return Result(ok=False, duration=0.0, detail=detail)
    return Result(ok=True, duration=0.0, detail=f"{detail} in {fmt_duration(elapsed)}")
