"""Local stand-ins for provider APIs (SendGrid, Twilio) and a webhook receiver, served on
127.0.0.1 in tests."""

from tests.doubles._base import FAR_FUTURE, http_date
from tests.doubles.hook_double import HookCall, HookDouble, start_hook_double
from tests.doubles.sendgrid_double import SendGridDouble, SendGridRequest, start_sendgrid_double
from tests.doubles.twilio_double import (
    TwilioDouble,
    TwilioMessage,
    sms_segments,
    start_twilio_double,
)

__all__ = [
    "FAR_FUTURE",
    "HookCall",
    "HookDouble",
    "SendGridDouble",
    "SendGridRequest",
    "TwilioDouble",
    "TwilioMessage",
    "http_date",
    "sms_segments",
    "start_hook_double",
    "start_sendgrid_double",
    "start_twilio_double",
]
