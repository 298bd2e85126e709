"""Channels, one module each behind `detector.channels.base.Channel`.

This is the channel kinds' registry: each kind is listed once below as (its `type:` value, the
config model its module owns, the channel class). `detector.config.models` assembles the config's
`channels` union from it, so a new kind touches its module and one line here.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from detector.channels import console, sendgrid, twilio, webhook
from detector.channels.base import Channel
from detector.config.fields import ChannelBase


@dataclass(frozen=True, slots=True)
class ChannelKind:
    name: str  # the channel's `type:` in the config
    config: type[ChannelBase]  # its model, with `type: Literal[name]`
    make: Callable[[Any, str], Channel]  # (its config, a channel name) → the channel


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
    ChannelKind("webhook", webhook.WebhookChannel, webhook.Webhook),
    ChannelKind("sendgrid", sendgrid.SendgridChannel, sendgrid.SendGrid),
    ChannelKind("twilio", twilio.TwilioChannel, twilio.Twilio),
    ChannelKind("console", console.ConsoleChannel, console.Console),
):
    register(_kind)


class Configured(Protocol):
    """A config with channels (detector.config.models.Config), said structurally: that model
    is assembled from this registry and cannot be imported back."""

    @property
    def channels(self) -> Sequence[ChannelBase]: ...


def build(config: Configured) -> list[Channel]:
    return [KINDS[cfg.type].make(cfg, f"{cfg.type}-{i}") for i, cfg in enumerate(config.channels)]
