"""Twilio SMS through the official SDK's asyncio client: one message per envelope.

One recipient per envelope (max_batch 1) so a retry never texts anyone twice.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import re
from typing import TYPE_CHECKING, Annotated, Literal

import aiohttp
from pydantic import AfterValidator, Field

from detector import logs
from detector.channels.base import Delivery, Envelope, logged, redacted
from detector.channels.sendgrid import parse_retry_after
from detector.clock import Clock, SystemClock
from detector.config.fields import ChannelBase, Secret, e164

if TYPE_CHECKING:  # the SDK (and requests, which it brings) loads when a Twilio channel is built
    from twilio.http.response import Response
    from twilio.rest import Client

    from detector.channels.twilio_sdk import HttpClient

_MESSAGING_SERVICE_RE = re.compile(r"MG[0-9a-fA-F]{32}")
_SHORT_CODE_RE = re.compile(r"\d{5,6}")
_ALPHANUMERIC_SENDER_RE = re.compile(r"(?=[^A-Za-z]*[A-Za-z])[A-Za-z0-9 +&_-]{1,11}")


def _twilio_sender(v: str) -> str:
    """What Twilio takes as `From`: an E.164 number, a messaging service SID, a short code or an
    alphanumeric sender ID. Anything else fails every SMS, so it is refused here."""
    if v.lstrip().startswith("+"):
        return e164(v)
    if any(
        r.fullmatch(v) for r in (_MESSAGING_SERVICE_RE, _SHORT_CODE_RE, _ALPHANUMERIC_SENDER_RE)
    ):
        return v
    raise ValueError(
        f"not a Twilio sender: {v!r} (use an E.164 number such as +15550100, a messaging service "
        "SID: MG and 32 hex digits, a short code of 5-6 digits, or an alphanumeric sender ID "
        "of up to 11 letters, digits and spaces)"
    )


class TwilioChannel(ChannelBase):
    type: Literal["twilio"]
    account_sid: str = Field(min_length=1)
    auth_token: Secret
    from_: Annotated[str, AfterValidator(_twilio_sender)] = Field(alias="from")


# Errors about the recipient, not the request: retrying cannot help, the others still count.
# 21211 invalid 'To' number, 21614 not a mobile number, 21610 the recipient replied STOP.
REJECTED_CODES = frozenset({21211, 21610, 21614})
DEFAULT_RETRY_AFTER = 1.0  # Twilio's 429 rarely carries Retry-After

# The SDK logs seven INFO lines per request; keep them out unless an operator asks.
_SDK_LOG = logging.getLogger("detector.channels.twilio.sdk")
_SDK_LOG.setLevel(logging.WARNING)


class Twilio:
    kind = "twilio"
    max_batch = 1
    concurrency = 20

    def __init__(
        self,
        cfg: TwilioChannel,
        name: str,
        timeout: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = name
        self.timeout = timeout  # the SDK's own timeout is not applied; this bound is
        self._clock = clock or SystemClock()
        self._http: HttpClient | None = None
        self._client: Client | None = None
        self._log = logs.get("detector.channels.twilio", channel=name)
        token = cfg.auth_token.get_secret_value()
        # what a provider or proxy may echo back: the token, and the Basic pair the SDK sends
        self._secrets = (token, logs.basic_auth(cfg.account_sid, token))
        logs.register_secrets(self._secrets)
        # The SDK imports its Api domain (~85 ms of modules) on first use: at start-up, not
        # inside the first fan-out. The client itself waits for the loop (see _sdk).
        importlib.import_module("twilio.rest.api")

    def wants(self, event: str) -> bool:
        return self.cfg.wants(event)

    def _sdk(self) -> Client:
        """Built lazily: the SDK's aiohttp session must be created inside the running loop."""
        if self._client is None:
            from twilio.rest import Client

            from detector.channels.twilio_sdk import HttpClient

            self._http = HttpClient(logger=_SDK_LOG)
            client = Client(
                self.cfg.account_sid, self.cfg.auth_token.get_secret_value(), http_client=self._http
            )
            if self.cfg.api_base is not None:
                client.api.base_url = str(self.cfg.api_base)
                # An explicit api_base wins: TWILIO_EDGE / TWILIO_REGION would rewrite its host.
                client.edge = None
                client.region = None
            self._client = client
        return self._client

    async def send(self, envelope: Envelope) -> Delivery:
        if not envelope.recipients:
            return Delivery(True, "no recipients")
        if len(envelope.recipients) > self.max_batch:
            return self._done(
                envelope,
                Delivery(
                    False,
                    f"Twilio takes one recipient per envelope, got {len(envelope.recipients)}",
                    permanent=True,
                ),
            )
        recipient = envelope.recipients[0]
        if not recipient.phone:
            return self._done(
                envelope, Delivery(True, "recipient has no phone number", rejected=[recipient])
            )
        from twilio.base.exceptions import TwilioRestException, TwilioServiceException

        from detector.channels.twilio_sdk import RESPONSES

        client = self._sdk()
        responses: list[Response] = []
        token = RESPONSES.set(responses)
        try:
            async with asyncio.timeout(self.timeout):
                msg = await client.messages.create_async(
                    to=recipient.phone, from_=self.cfg.from_, body=envelope.message.sms
                )
        except TwilioRestException as e:
            delivery = self._refused(e.status, e.code, str(e.msg), responses, envelope)
        except TwilioServiceException as e:
            text = f"{e.title}: {e.detail}" if e.detail else str(e.title)
            delivery = self._refused(e.status, e.code, text, responses, envelope)
        except TimeoutError:
            delivery = Delivery(False, f"Twilio did not answer within {self.timeout:g}s")
        except (aiohttp.ClientError, OSError) as e:
            delivery = Delivery(False, f"Twilio unreachable: {type(e).__name__}")
        except json.JSONDecodeError:  # a 2xx whose body is not JSON: it was still accepted
            delivery = Delivery(True, "accepted by Twilio (unreadable response)")
        else:
            delivery = Delivery(
                True, f"accepted by Twilio: {msg.sid} ({msg.num_segments} segment(s))"
            )
        finally:
            RESPONSES.reset(token)
        return self._done(envelope, delivery)

    def _refused(
        self,
        status: int,
        code: int | None,
        text: str,
        responses: list[Response],
        envelope: Envelope,
    ) -> Delivery:
        detail = f"Twilio HTTP {status}" + (f" (error {code})" if code else "") + f": {text}"
        if status == 429:
            header = responses[-1].headers.get("Retry-After") if responses else None
            wait = parse_retry_after(header, self._clock.now())
            return Delivery(
                False, detail, retry_after=DEFAULT_RETRY_AFTER if wait is None else wait
            )
        if status >= 500 or status == 408:
            return Delivery(False, detail)
        if status == 400 and code in REJECTED_CODES:
            return Delivery(True, detail, rejected=list(envelope.recipients))
        return Delivery(False, detail, permanent=True)

    def _done(self, envelope: Envelope, delivery: Delivery) -> Delivery:
        """Every outcome leaves here, its detail redacted for the log and the outbox row."""
        return logged(self._log, "twilio", envelope, redacted(delivery, *self._secrets))

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = None
        self._client = None
