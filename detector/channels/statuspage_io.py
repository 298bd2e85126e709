"""Atlassian Statuspage: mirror incidents, their updates and component statuses to an existing
page through the Statuspage REST API v1.

One Statuspage incident per incident of ours. The first notice the channel sees creates it
(`POST /v1/pages/{page_id}/incidents`); each later one is an incident update (`PATCH` with
status, body and component statuses); the resolved notice sets the components back to
`operational`. Every request carries `Authorization: OAuth <api_key>`.

Idempotent across restarts without any state of our own: the Statuspage incident carries a
marker in its `metadata`, `{"outage_detector": {"incident_id": ours, "sequence": n}}`, where
`n` is the last of our notices it shows. A channel that does not know the counterpart of an
incident (a restart, or a request whose answer was lost) looks for the marker among the page's
unresolved and recent incidents before creating one, and a notice whose sequence the marker
already holds is not applied twice. The outbox delivers an incident's notices in order and
never one after its successor, so "already holds" is `sequence <= n`.

The envelope's payload must be the CONTRACT §5 body (incident and notice), so the kind is
registered as an operators' channel (detector.channels); it takes only incident events, and
never publishes the payload's probe evidence.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import aiohttp
from pydantic import Field

from detector import logs
from detector.channels.base import Delivery, Envelope, logged, redacted
from detector.channels.sendgrid import parse_retry_after
from detector.clock import Clock, SystemClock
from detector.config.fields import ChannelBase, Secret

DEFAULT_API_BASE = "https://api.statuspage.io"
MARKER = "outage_detector"  # the metadata key that names our incident on theirs
# what the channel mirrors; maintenance and post-mortems are not Statuspage incidents
EVENTS = ("incident.opened", "incident.updated", "incident.resolved")
STATUSES = ("investigating", "identified", "monitoring", "resolved")
# our component severity → Statuspage's component status
COMPONENT_STATUS = {
    "operational": "operational",
    "degraded": "degraded_performance",
    "partial_outage": "partial_outage",
    "major_outage": "major_outage",
}
# our incident severity → Statuspage's incident impact
IMPACT = {"degraded": "minor", "partial_outage": "major", "major_outage": "critical"}
MAX_NAME = 255  # Statuspage refuses longer incident names
RECENT = 100  # incidents read per list (newest first), Statuspage's largest page
_ID = r"^[A-Za-z0-9]+$"  # Statuspage ids: letters and digits, safe in a URL path

StatuspageId = Annotated[str, Field(min_length=1, max_length=64, pattern=_ID)]


class StatuspageIoChannel(ChannelBase):
    type: Literal["statuspage_io"]
    page_id: StatuspageId
    api_key: Secret
    # our component id → their component id; components not listed are left alone
    components: dict[str, StatuspageId] = Field(default_factory=dict)


@dataclass
class _Mirror:
    """What we know of an incident's counterpart: its id and the last notice it shows."""

    id: str
    sequence: int


class _Refused(Exception):
    """A request that did not succeed; `delivery` says whether to try again."""

    def __init__(self, delivery: Delivery, status: int = 0) -> None:
        super().__init__(delivery.detail)
        self.delivery = delivery
        self.status = status  # the HTTP status, 0 without an answer


class StatuspageIo:
    kind = "statuspage_io"
    max_batch = 0
    concurrency = 1  # Statuspage allows about one request a second per key: no bursts

    def __init__(
        self,
        cfg: StatuspageIoChannel,
        name: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.timeout = timeout
        self.base = str(cfg.api_base or DEFAULT_API_BASE).rstrip("/") + f"/v1/pages/{cfg.page_id}"
        self._clock = clock or SystemClock()
        self._key = cfg.api_key.get_secret_value()
        self._known: dict[str, _Mirror] = {}  # our incident id → its counterpart
        self._session: aiohttp.ClientSession | None = None
        self._log = logs.get("detector.channels.statuspage_io", channel=name)
        logs.register_secrets([self._key])

    def wants(self, event: str) -> bool:
        return event in EVENTS and self.cfg.wants(event)

    async def send(self, envelope: Envelope) -> Delivery:
        try:
            delivery = await self._mirror(envelope)
        except _Refused as e:
            delivery = e.delivery
        return logged(self._log, "statuspage", envelope, redacted(delivery, self._key))

    # --- what a notice becomes ------------------------------------------------------------

    async def _mirror(self, envelope: Envelope) -> Delivery:
        inc = envelope.payload.get("incident")
        notice = envelope.payload.get("notice")
        if not isinstance(inc, dict) or not isinstance(notice, dict) or not inc.get("id"):
            return Delivery(
                False,
                "the notice came without its incident: statuspage_io needs the full payload",
                permanent=True,
            )
        ours = str(inc["id"])
        status = str(inc.get("status"))
        if status not in STATUSES:
            return Delivery(False, f"unknown incident status {status!r}", permanent=True)
        sequence = _sequence(notice, envelope.notice_id)
        body = self._incident_body(inc, status, envelope, sequence)
        mirror = self._known.get(ours) or await self._find(ours)
        if mirror is None:
            # a failed write may still have been applied (an answer lost, a 5xx after the
            # fact): the next attempt looks for the marker again before writing
            created = await self._request("POST", "/incidents", {"incident": body})
            their = str(created.get("id", "")) if isinstance(created, dict) else ""
            if not re.fullmatch(_ID, their):
                # created, or not: the next attempt looks for the marker and knows
                return Delivery(False, "Statuspage answered the creation without an id")
            self._known[ours] = _Mirror(their, sequence)
            return Delivery(True, f"Statuspage incident {their} created ({status})")
        if sequence <= mirror.sequence:
            self._known[ours] = mirror
            return Delivery(True, f"Statuspage incident {mirror.id} already shows this notice")
        try:
            await self._request("PATCH", f"/incidents/{mirror.id}", {"incident": body})
        except _Refused as e:
            self._known.pop(ours, None)  # as above: look before writing again
            if e.status == 404:
                # deleted on the page: the next attempt finds no marker and creates it anew
                raise _Refused(Delivery(False, e.delivery.detail), 404) from None
            raise
        self._known[ours] = _Mirror(mirror.id, sequence)
        return Delivery(True, f"Statuspage incident {mirror.id} updated ({status})")

    def _incident_body(
        self, inc: dict[str, Any], status: str, envelope: Envelope, sequence: int
    ) -> dict[str, Any]:
        severity = str(inc.get("severity"))
        if status in ("monitoring", "resolved"):
            component_status = "operational"  # the probes have recovered
        else:
            component_status = COMPONENT_STATUS.get(severity, "major_outage")
        theirs = [
            self.cfg.components[c] for c in inc.get("components") or [] if c in self.cfg.components
        ]
        title = " ".join(str(inc.get("title") or envelope.message.subject).split())
        body: dict[str, Any] = {
            "name": title[:MAX_NAME] or "Incident",
            "status": status,
            "body": envelope.message.text,
            "metadata": {MARKER: {"incident_id": str(inc["id"]), "sequence": sequence}},
        }
        if theirs:  # none mapped: the page's components are left as they are
            body["component_ids"] = theirs
            body["components"] = dict.fromkeys(theirs, component_status)
        if severity in IMPACT:
            body["impact_override"] = IMPACT[severity]
        return body

    async def _find(self, ours: str) -> _Mirror | None:
        """The incident's counterpart on the page, by the marker in its metadata."""
        for route in ("/incidents/unresolved", "/incidents"):
            listed = await self._request("GET", f"{route}?page=1&per_page={RECENT}")
            for incident in listed if isinstance(listed, list) else []:
                found = _marked(incident, ours)
                if found is not None:
                    self._known[ours] = found
                    return found
        return None

    # --- HTTP -----------------------------------------------------------------------------

    async def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        headers = {
            "Authorization": f"OAuth {self._key}",
            "Accept": "application/json",
            "User-Agent": "outage-detector",
        }
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._session.request(
                    method, self.base + path, data=data, headers=headers
                ) as resp:
                    status, text, rh = resp.status, await resp.text(errors="replace"), resp.headers
        except TimeoutError:
            miss = Delivery(False, f"Statuspage did not answer within {self.timeout:g}s")
            raise _Refused(miss) from None
        except (aiohttp.ClientError, OSError) as e:
            raise _Refused(Delivery(False, f"Statuspage unreachable: {type(e).__name__}")) from None
        if 200 <= status < 300:
            try:
                return json.loads(text) if text.strip() else None
            except ValueError:
                raise _Refused(Delivery(False, "Statuspage answered with no JSON")) from None
        detail = f"Statuspage HTTP {status} on {method} {_route(path)}: {_error_text(text)}"
        if status in (420, 429):  # Statuspage's rate limit answers 420 or 429
            wait = parse_retry_after(rh.get("Retry-After"), self._clock.now())
            retry = Delivery(False, detail, retry_after=wait if wait is not None else 1.0)
            raise _Refused(retry, status)
        if status >= 500 or status == 408:
            raise _Refused(Delivery(False, detail), status)
        raise _Refused(Delivery(False, detail, permanent=True), status)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _sequence(notice: dict[str, Any], notice_id: str) -> int:
    """The notice's place in its incident: the payload's `sequence`, else the id's suffix."""
    seq = notice.get("sequence")
    if isinstance(seq, int) and not isinstance(seq, bool):
        return seq
    tail = notice_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else 0


def _marked(incident: Any, ours: str) -> _Mirror | None:
    if not isinstance(incident, dict):
        return None
    metadata = incident.get("metadata")
    marker = metadata.get(MARKER) if isinstance(metadata, dict) else None
    if not isinstance(marker, dict) or marker.get("incident_id") != ours:
        return None
    their = incident.get("id")
    if not isinstance(their, str) or not re.fullmatch(_ID, their):
        return None
    seq = marker.get("sequence")
    # metadata values may come back as strings
    if isinstance(seq, str) and seq.isdigit():
        seq = int(seq)
    return _Mirror(their, seq if isinstance(seq, int) and not isinstance(seq, bool) else 0)


def _route(path: str) -> str:
    """The request's route for a message, without the query."""
    return path.partition("?")[0]


def _error_text(text: str) -> str:
    """Statuspage's `{"error": "..."}` or `{"error": ["...", ...]}`, as one line."""
    try:
        raw = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:200] or "no error message"
    err = raw.get("error", raw.get("message")) if isinstance(raw, dict) else raw
    if isinstance(err, list):
        err = "; ".join(str(e) for e in err)
    return " ".join(str(err).split())[:200] if err else "no error message"
