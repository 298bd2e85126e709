"""The Twilio SDK's asyncio HTTP client, as the Twilio channel uses it.

Its own module so that the SDK (and requests, which it brings) is imported when a Twilio
channel is built, not by every daemon that only reads the channel's config model.
"""

from __future__ import annotations

import base64
import logging
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response

# The SDK's exception drops the response headers; each send collects its own responses here.
RESPONSES: ContextVar[list[Response] | None] = ContextVar("twilio_responses", default=None)
_FORM = "application/x-www-form-urlencoded"


class HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # the twilio SDK ships no types
    """The SDK's aiohttp client, keeping each response for the send that made it.

    Still the SDK's request path (its session, its Response), cheaper per message: the Basic
    pair is worked out once, the form body is encoded as the SDK's sync client encodes it
    (`urlencode`, repeated keys for lists) rather than through aiohttp's FormData, and the
    SDK's request/response log lines are not formatted unless someone will read them.
    """

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger=logger)
        self._auth: tuple[tuple[str, str], str] | None = None  # (sid, token) → header value

    def _authorization(self, auth: tuple[str, str]) -> str:
        if self._auth is None or self._auth[0] != auth:
            creds = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            self._auth = (auth, f"Basic {creds}")
        return self._auth[1]

    def log_request(self, kwargs: dict[str, Any]) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_request(kwargs)

    def log_response(self, status_code: int, response: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            super().log_response(status_code, response)

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        headers = dict(headers or {})
        if auth is not None:  # as a header: aiohttp deprecates the SDK's BasicAuth object
            headers["Authorization"] = self._authorization(auth)
        body: bytes | dict[str, object] | None = data
        if data and headers.get("Content-Type") == _FORM:
            body = urlencode(data, doseq=True).encode()
        response: Response = await super().request(
            method,
            url,
            params=params,
            data=body,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        sink = RESPONSES.get()
        if sink is not None:
            sink.append(response)
        return response
