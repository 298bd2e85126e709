"""Channels, one module each behind `detector.channels.base.Channel`.

This is the channel kinds' registry: each kind is listed once below as (its `type:` value, the
config model its module owns, the channel class, and whether it is an operators' channel).
`detector.config.models` assembles the config's `channels` union from it, so a new kind touches
its module and one line here.

An operators' channel (webhook, console, slack, teams, pagerduty) may hear the detector's own
events (`domain.INTERNAL_EVENTS`) and gets the whole payload, probe evidence included; a
customers' channel (sendgrid, smtp, twilio) never does (notices.fanout, `is_operator`).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from detector.channels import (
    console,
    pagerduty,
    sendgrid,
    slack,
    smtp,
    statuspage_io,
    teams,
    twilio,
    webhook,
)
from detector.channels.base import Channel
from detector.config.fields import ChannelBase


@dataclass(frozen=True, slots=True)
class ChannelKind:
    name: str  # the channel's `type:` in the config
    config: type[ChannelBase]  # its model, with `type: Literal[name]`
    make: Callable[[Any, str], Channel]  # (its config, a channel name) → the channel
    operator: bool = False  # an operators' channel: see the module's doc


KINDS: dict[str, ChannelKind] = {}
_sealed = False


def register(kind: ChannelKind) -> ChannelKind:
    """Add a channel kind; it must happen before the config models are built (see `seal`)."""
    if kind.name in KINDS:
        raise ValueError(f"channel kind {kind.name!r} is already registered")
    field = kind.config.model_fields.get("type")
    if field is None or typing.get_args(field.annotation) != (kind.name,):
        # the union picks a channel's model by this tag: any other would never be chosen
        raise ValueError(f"{kind.config.__name__} needs `type: Literal[{kind.name!r}]`")
    if _sealed:
        raise RuntimeError(
            f"channel kind {kind.name!r} registered after the config models were built; "
            "register it before detector.config.models is imported"
        )
    KINDS[kind.name] = kind
    return kind


def seal() -> tuple[ChannelKind, ...]:
    """The registered kinds, in order, and no more from now on: the config models are built
    from them once, so a kind registered later would be silently unknown to the config."""
    global _sealed
    _sealed = True
    return tuple(KINDS.values())


for _kind in (
    ChannelKind("webhook", webhook.WebhookChannel, webhook.Webhook, operator=True),
    ChannelKind("sendgrid", sendgrid.SendgridChannel, sendgrid.SendGrid),
    ChannelKind("twilio", twilio.TwilioChannel, twilio.Twilio),
    ChannelKind("console", console.ConsoleChannel, console.Console, operator=True),
    # the whole payload (incident, notice) to mirror them; its `wants` takes incidents only,
    # and it publishes no evidence
    ChannelKind(
        "statuspage_io",
        statuspage_io.StatuspageIoChannel,
        statuspage_io.StatuspageIo,
        operator=True,
    ),
    ChannelKind("smtp", smtp.SmtpChannel, smtp.Smtp),
    ChannelKind("slack", slack.SlackChannel, slack.Slack, operator=True),
    ChannelKind("teams", teams.TeamsChannel, teams.Teams, operator=True),
    ChannelKind("pagerduty", pagerduty.PagerdutyChannel, pagerduty.PagerDuty, operator=True),
):
    register(_kind)


def is_operator(channel: Channel) -> bool:
    """An operators' channel: its kind is registered as one."""
    kind = KINDS.get(channel.kind)
    return kind is not None and kind.operator


class Configured(Protocol):
    """A config with channels (detector.config.models.Config), said structurally: that model
    is assembled from this registry and cannot be imported back."""

    @property
    def channels(self) -> Sequence[ChannelBase]: ...


def build(config: Configured) -> list[Channel]:
    return [KINDS[cfg.type].make(cfg, f"{cfg.type}-{i}") for i, cfg in enumerate(config.channels)]
