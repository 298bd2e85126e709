"""Local stand-ins for provider APIs (SendGrid, Twilio), served on 127.0.0.1 in tests."""

from tests.doubles.sendgrid_double import SendGridDouble, SendGridRequest, start_sendgrid_double
from tests.doubles.twilio_double import (
    TwilioDouble,
    TwilioMessage,
    sms_segments,
    start_twilio_double,
)

__all__ = [
    "SendGridDouble",
    "SendGridRequest",
    "TwilioDouble",
    "TwilioMessage",
    "sms_segments",
    "start_sendgrid_double",
    "start_twilio_double",
]
