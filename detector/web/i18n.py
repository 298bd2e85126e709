"""The words around notices on the status page, banner, feed, post-mortem page and sign-up
pages, and picking the reader's language.

Notice texts are not here: `detector.notices.compose` writes them per language. The English
below is each message's source; `M(key, english)` registers it, Babel extracts it (msgctxt =
key) into the `web` catalogs (detector/i18n/locales/<lang>/LC_MESSAGES/web.po), and `Chrome.t`
looks it up in the reader's catalog. A message a catalog lacks is logged and counted.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_name
from babel.lists import format_list
from babel.numbers import format_percent

from detector import i18n

LANGS = i18n.LOCALES
NAMES = {lang: i18n.display_name(lang) for lang in LANGS}

SOURCE: dict[str, str] = {}
"""Each message's English text by key: the message ids of the `web` catalogs."""


def M(key: str, english: str) -> None:
    SOURCE[key] = english


# --- the status page, banner and feed
M("title", "{service} status")
M("skip", "Skip to content")
M("language", "Language")
M("overall_operational", "All systems operational")
M("overall_degraded", "Some systems are degraded")
M("overall_partial_outage", "Partial outage")
M("overall_major_outage", "Major outage")
M("overall_maintenance", "Scheduled maintenance in progress")
M("operational", "Operational")
M("degraded", "Degraded performance")
M("partial_outage", "Partial outage")
M("major_outage", "Major outage")
M("maintenance", "Under maintenance")
M("investigating", "Investigating")
M("identified", "Identified")
M("monitoring", "Monitoring")
M("resolved", "Resolved")
M("current_incidents", "Current incidents")
M("affected", "Affected")
M("started", "Started")
M("updates", "Updates")
M("next_update", "Next update by {time}")
M("maintenance_heading", "Scheduled maintenance")
M("in_progress", "In progress")
M("window", "{start} to {end}")
M("components", "Components")
M("uptime_caption", "Uptime over the last 90 days")
M("uptime", "{pct} uptime")
M("no_data", "no data")
M("day", "{date}: {value}")
M("days_ago", "90 days ago")
M("today", "Today")
M("past_incidents", "Past incidents (last 14 days)")
M("no_past_incidents", "No incidents in the last 14 days.")
M("resolved_at", "Resolved {time}")
M("postmortem", "Post-mortem report")
M("contact", "Contact")
M("contact_intro", "Questions about an incident? Reach {name}.")
M("email", "E-mail")
M("phone", "Phone")
M("feed", "Subscribe to updates (Atom feed)")
M("api", "JSON API")
M("times_in", "Times are shown in {zone}.")
M("feed_title", "{service} incidents")
M("more", "Details")
M("dismiss", "Dismiss")
M("maint_title", "Planned maintenance of {what}")
M(
    "maint_message_missing",
    "Our team's note on this maintenance is not yet available in your language.",
)
M("banner_maintenance", "Planned maintenance of {what}: {start} to {end}")
M("banner_maintenance_now", "Planned maintenance of {what} in progress until {end}")

# --- the published post-mortem page (detector.web.postmortem_page); `{what}`/`{names}` are
# component names (a list), `{date}`/`{time}` local, `{severity}` a label
M("pm_read", "Read the incident report")
M("pm_title", "Incident report: {title}")
M("pm_published", "Published {time}")
M("pm_back", "Back to the status page")
M("pm_summary", "Summary")
M("pm_impact", "Impact on you")
M("pm_timeline", "Timeline")
M("pm_cause", "Cause")
M("pm_actions", "What we are changing")
M("pm_summary_major_outage", "On {date}, an outage affected {what}.")
M("pm_summary_partial_outage", "On {date}, a partial outage affected {what}.")
M("pm_summary_degraded", "On {date}, {what} ran slower than usual.")
M("pm_summary_operational", "On {date}, we looked into a possible problem with {what}.")
M("pm_summary_end", "It lasted {duration}. Everything has worked normally since {time}.")
M(
    "pm_summary_cause",
    "Below we explain the cause and what we are changing so that it does not happen again.",
)
M("pm_summary_no_cause", "We are still looking into the cause and will update this report.")
M("pm_sorry", "We are sorry for the trouble this caused.")
M("pm_impact_major_outage", "While it lasted:")
M("pm_impact_partial_outage", "While it lasted, some of you were affected:")
M("pm_impact_degraded", "While it lasted, these worked, but slower than usual:")
M("pm_impact_operational", "Affected:")
M("pm_severity", "Impact level")
M("pm_started", "Started")
M("pm_recovered", "Working again")
M("pm_resolved", "Incident closed")
M("pm_duration", "Duration")
M("pm_began", "The problem began.")
M("pm_detected", "Our monitoring detected the problem.")
M("pm_opened_by_team", "Our team opened the incident.")
M("pm_told_opened", "We told customers about the problem.")
M("pm_told_update", "We sent an update: we were still working on it.")
M("pm_told_severity", "We sent an update. New impact level: {severity}.")
M("pm_told_expanded", "We sent an update. Also affected: {names}.")
M("pm_told_identified", "We found the cause and told customers.")
M("pm_told_human", "Our team wrote:")
M("pm_told_monitoring", "The service worked again. We told customers and kept watching it.")
M("pm_told_recurred", "The problem came back. We told customers.")
M("pm_told_resolved", "We closed the incident and told customers.")
M("pm_told_postmortem", "We published this report.")
M("pm_recovered_step", "The service worked normally again.")
M("pm_resolved_step", "The incident was closed.")
M(
    "pm_cause_unknown",
    "We are still looking into the cause. We will update this report when we know more.",
)
M("pm_actions_unknown", "We will add here what we are changing.")
M("pm_times_in", "Times are shown in {zone}.")

# --- subscriptions: the sign-up form, the confirm/unsubscribe/preferences pages and the
# confirmation e-mail (detector.web.subscribe); `{email}` is the reader's address; "48 hours" is
# detector.web.subscribe.CONFIRM_TTL
M("sub_heading", "Get notices by e-mail")
M("sub_intro", "We e-mail you when something breaks, while we fix it, and when it works again.")
M("sub_email", "E-mail address")
M("sub_which", "Tell me about")
M("sub_none_all", "None ticked means all.")
M("sub_timezone", "Time zone (such as Europe/Warsaw)")
M("sub_submit", "Subscribe")
M("sub_sent_title", "Check your inbox")
M(
    "sub_sent",
    "If {email} can receive e-mail, a link to confirm is on its way. We send nothing else "
    "until it is opened.",
)
M("sub_confirmed_title", "You are subscribed")
M(
    "sub_confirmed",
    "We will e-mail {email} when {service} has an outage, with updates until it is over. "
    "Every e-mail has a link to unsubscribe or to change what you get.",
)
M("sub_manage_link", "Change what you get")
M("sub_manage_title", "Your e-mail notices")
M("sub_manage_intro", "Notices about {service} go to {email}.")
M("sub_manage_off", "{email} gets no notices about {service}.")
M("sub_unsubscribe", "Unsubscribe")
M("sub_unsubscribe_intro", "Stop all e-mail notices with one click:")
M("sub_unsubscribed_title", "You are unsubscribed")
M(
    "sub_unsubscribed",
    "We will send no more notices to {email}. The status page always shows what is going on.",
)
M("sub_prefs_heading", "Choose what you get")
M("sub_save", "Save preferences")
M("sub_resubscribe", "Subscribe again")
M("sub_saved_title", "Preferences saved")
M("sub_saved", "Your next notice follows them.")
M("sub_link_bad_title", "This link does not work")
M("sub_link_expired", "This link has expired. Subscribe again on the status page to get a new one.")
M("sub_link_forged", "This link is not valid. Use the link from our most recent e-mail.")
M(
    "sub_link_used",
    "This link no longer works: a newer one was sent, or the address was unsubscribed.",
)
M("sub_error_title", "Please check the form")
M("sub_error_field", "This is not right: {field}.")
M("sub_busy_title", "Too many requests")
M("sub_busy", "Please try again in a few minutes.")
M("sub_off_title", "Subscriptions are not available")
M("sub_off", "We cannot send e-mail right now. Please try again later.")
M("sub_back", "Back to the status page")
M("mail_hello", "Hello,")
M("mail_confirm_subject", "Confirm your e-mail notices from {service}")
M(
    "mail_confirm_intro",
    "Someone (we hope it was you) asked for {service} outage notices at this address.",
)
M("mail_confirm_action", "To confirm, open this link within 48 hours:")
M("mail_confirm_ignore", "If it was not you, ignore this e-mail: we will send nothing more.")
M("mail_manage_subject", "Your e-mail notices from {service}")
M("mail_manage_intro", "This address already gets {service} outage notices.")
M("mail_manage_action", "To change what you get, or to unsubscribe, open this link:")
M("mail_manage_ignore", "If you did not ask for this, ignore this e-mail: nothing changes.")
M("mail_signature", "{name}, {service}")


def pick_language(query: str | None, accept_language: str | None, default: str) -> str:
    """`?lang=` first, then the browser's Accept-Language by weight, then the service default."""
    picked = i18n.supported(query)
    if picked:
        return picked
    return i18n.negotiate(i18n.parse_accept_language(accept_language or ""), default)


class Chrome:
    """The page's words and dates for one language and time zone."""

    def __init__(self, lang: str, timezone: str) -> None:
        self.lang = i18n.supported(lang) or i18n.SOURCE
        self.words = i18n.catalog(self.lang, "web")
        self.locale = _locale(self.lang)
        self.zone = ZoneInfo(timezone)
        self.zone_name = timezone
        self.dir = "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def t(self, key: str, **values: str) -> str:
        english = SOURCE[key]
        text = self.words.pgettext(key, english)
        if not values:
            return text
        try:
            return text.format(**values)
        except (KeyError, IndexError, ValueError):  # a catalog names a placeholder it may not
            i18n.report_missing(self.lang, "web", f"{key} | {english}")
            return english.format(**values)

    def when(self, ts: float) -> str:
        """A local date and time with a zone nobody misreads, in the reader's language."""
        moment = datetime.fromtimestamp(ts, self.zone)
        day = format_skeleton("yMMMd", moment, tzinfo=self.zone, locale=self.locale)
        time = format_time(moment, "short", tzinfo=self.zone, locale=self.locale)
        joiner = str(self.locale.datetime_formats["medium"]).replace("'", "")
        return joiner.format(f"{time} {self.zone_label(moment)}", day)

    def zone_label(self, moment: datetime) -> str:
        return i18n.zone_label(moment, self.locale)

    def zone_title(self, moment: datetime) -> str:
        """'czas środkowoeuropejski (CET)': the zone's name in the reader's language, with the
        label the page's times carry, not the IANA id ("Europe/Warsaw") in every language."""
        moment = moment.astimezone(self.zone)
        name = get_timezone_name(self.zone, "long", locale=self.locale)
        if "(" in name:  # no generic name, only a city's ("Indonesia (Jakarta) Time")
            name = get_timezone_name(moment, "long", locale=self.locale)
        label = self.zone_label(moment)
        return name if label in name else f"{name} ({label})"

    def list(self, names: list[str]) -> str:
        """ "A, B i C": names joined as the reader's language joins them."""
        return format_list(names, locale=self.locale) if names else ""

    def day(self, day: date) -> str:
        return format_date(day, "medium", locale=self.locale)

    def percent(self, ratio: float) -> str:
        return format_percent(ratio, "#,##0.##%", locale=self.locale)


@lru_cache(maxsize=16)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)
