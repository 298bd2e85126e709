"""Microsoft Teams incoming webhook: the operators' own events as an Adaptive Card.

The card travels in a `message` with one attachment, the shape both a Teams Workflows webhook
("When a Teams webhook request is received") and a classic connector URL accept. What it hears
by default, and what it says, is shared with Slack and PagerDuty (see channels.slack).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import SecretStr, field_validator

from detector.channels.base import Delivery, Envelope
from detector.channels.slack import (
    HookChannel,
    Reply,
    check_hook_url,
    cut,
    describe,
)
from detector.config.fields import ChannelBase, Secret


class TeamsChannel(ChannelBase):
    type: Literal["teams"]
    url: Secret  # the workflow's or connector's webhook URL: the URL is the credential

    @field_validator("url")
    @classmethod
    def _url(cls, v: SecretStr) -> SecretStr:
        return check_hook_url(v, "Teams")


CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"  # what Teams renders on desktop, web and mobile
TEXT_MAX = 8000  # a message is at most 28 KB; the rest of the card is small
FACTS_MAX = 12
_COLOR = {"critical": "Attention", "error": "Attention", "warning": "Warning", "info": "Good"}


class Teams(HookChannel):
    kind = "teams"
    provider = "Teams"

    def build(self, envelope: Envelope) -> dict[str, Any]:
        note = describe(envelope)
        body: list[dict[str, Any]] = [
            {
                "type": "TextBlock",
                "text": cut(note.title, 300),
                "weight": "Bolder",
                "size": "Medium",
                "color": _COLOR.get(note.severity, "Default"),
                "wrap": True,
            }
        ]
        if note.text.strip():
            body.append(
                {"type": "TextBlock", "text": cut(note.text.strip(), TEXT_MAX), "wrap": True}
            )
        if note.facts:
            body.append(
                {
                    "type": "FactSet",
                    "facts": [
                        {"title": cut(k, 100), "value": cut(v, 500)}
                        for k, v in note.facts[:FACTS_MAX]
                    ],
                }
            )
        body.append(
            {
                "type": "TextBlock",
                "text": f"{envelope.event} · notice {envelope.notice_id}",
                "isSubtle": True,
                "size": "Small",
                "wrap": True,
            }
        )
        card: dict[str, Any] = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
        }
        if note.link:
            card["actions"] = [{"type": "Action.OpenUrl", "title": "Status page", "url": note.link}]
        return {
            "type": "message",
            "summary": cut(note.title, 200),
            "attachments": [{"contentType": CARD, "contentUrl": None, "content": card}],
        }

    def accepted(self, reply: Reply) -> Delivery:
        # a workflow answers 202 and no body, a connector 200 and "1"; errors are words
        return self._http.outcome(reply, reply.text, f"accepted by Teams: HTTP {reply.status}")
