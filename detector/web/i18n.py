"""Status page chrome in each supported language, and picking the reader's language.

Notice texts are not here: they are re-composed per language by `detector.notices.compose`.
These are the few words around them (headings, labels), one small dict per locale, so a
translator edits one block and a missing key falls back to English instead of failing.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_name
from babel.numbers import format_percent

_ABBREVIATION = re.compile(r"[A-Z]{2,5}")
LANGS = ("en", "pl", "fr", "ar", "id")
NAMES = {"en": "English", "pl": "Polski", "fr": "Français", "ar": "العربية", "id": "Indonesia"}

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "title": "{service} status",
        "skip": "Skip to content",
        "language": "Language",
        "overall_operational": "All systems operational",
        "overall_degraded": "Some systems are degraded",
        "overall_partial_outage": "Partial outage",
        "overall_major_outage": "Major outage",
        "overall_maintenance": "Scheduled maintenance in progress",
        "operational": "Operational",
        "degraded": "Degraded performance",
        "partial_outage": "Partial outage",
        "major_outage": "Major outage",
        "maintenance": "Under maintenance",
        "investigating": "Investigating",
        "identified": "Identified",
        "monitoring": "Monitoring",
        "resolved": "Resolved",
        "current_incidents": "Current incidents",
        "affected": "Affected",
        "started": "Started",
        "updates": "Updates",
        "next_update": "Next update by {time}",
        "maintenance_heading": "Scheduled maintenance",
        "in_progress": "In progress",
        "window": "{start} to {end}",
        "components": "Components",
        "uptime_caption": "Uptime over the last 90 days",
        "uptime": "{pct} uptime",
        "no_data": "no data",
        "day": "{date}: {value}",
        "days_ago": "90 days ago",
        "today": "Today",
        "past_incidents": "Past incidents (last 14 days)",
        "no_past_incidents": "No incidents in the last 14 days.",
        "resolved_at": "Resolved {time}",
        "postmortem": "Post-mortem report",
        "contact": "Contact",
        "contact_intro": "Questions about an incident? Reach {name}.",
        "email": "E-mail",
        "phone": "Phone",
        "feed": "Subscribe to updates (Atom feed)",
        "api": "JSON API",
        "times_in": "Times are shown in {zone}.",
        "feed_title": "{service} incidents",
        "more": "Details",
        "dismiss": "Dismiss",
    },
    "pl": {
        "title": "Status usługi {service}",
        "skip": "Przejdź do treści",
        "language": "Język",
        "overall_operational": "Wszystkie systemy działają",
        "overall_degraded": "Niektóre systemy działają wolniej",
        "overall_partial_outage": "Częściowa awaria",
        "overall_major_outage": "Poważna awaria",
        "overall_maintenance": "Trwają planowane prace serwisowe",
        "operational": "Działa",
        "degraded": "Obniżona wydajność",
        "partial_outage": "Częściowa awaria",
        "major_outage": "Poważna awaria",
        "maintenance": "Prace serwisowe",
        "investigating": "Badamy problem",
        "identified": "Przyczyna ustalona",
        "monitoring": "Monitorujemy",
        "resolved": "Rozwiązano",
        "current_incidents": "Bieżące incydenty",
        "affected": "Dotyczy",
        "started": "Początek",
        "updates": "Aktualizacje",
        "next_update": "Następna aktualizacja do {time}",
        "maintenance_heading": "Planowane prace serwisowe",
        "in_progress": "W toku",
        "window": "od {start} do {end}",
        "components": "Komponenty",
        "uptime_caption": "Dostępność w ciągu ostatnich 90 dni",
        "uptime": "dostępność {pct}",
        "no_data": "brak danych",
        "day": "{date}: {value}",
        "days_ago": "90 dni temu",
        "today": "Dziś",
        "past_incidents": "Wcześniejsze incydenty (ostatnie 14 dni)",
        "no_past_incidents": "Brak incydentów w ciągu ostatnich 14 dni.",
        "resolved_at": "Rozwiązano {time}",
        "postmortem": "Raport po incydencie",
        "contact": "Kontakt",
        "contact_intro": "Pytania dotyczące incydentu? Skontaktuj się z: {name}.",
        "email": "E-mail",
        "phone": "Telefon",
        "feed": "Subskrybuj aktualizacje (kanał Atom)",
        "api": "API JSON",
        "times_in": "Godziny podano w strefie {zone}.",
        "feed_title": "Incydenty: {service}",
        "more": "Szczegóły",
        "dismiss": "Zamknij",
    },
    "fr": {
        "title": "État de {service}",
        "skip": "Aller au contenu",
        "language": "Langue",
        "overall_operational": "Tous les systèmes fonctionnent",
        "overall_degraded": "Certains systèmes sont ralentis",
        "overall_partial_outage": "Panne partielle",
        "overall_major_outage": "Panne majeure",
        "overall_maintenance": "Maintenance planifiée en cours",
        "operational": "Opérationnel",
        "degraded": "Performances dégradées",
        "partial_outage": "Panne partielle",
        "major_outage": "Panne majeure",
        "maintenance": "En maintenance",
        "investigating": "Analyse en cours",
        "identified": "Cause identifiée",
        "monitoring": "Sous surveillance",
        "resolved": "Résolu",
        "current_incidents": "Incidents en cours",
        "affected": "Concerné",
        "started": "Début",
        "updates": "Mises à jour",
        "next_update": "Prochaine mise à jour au plus tard à {time}",
        "maintenance_heading": "Maintenance planifiée",
        "in_progress": "En cours",
        "window": "du {start} au {end}",
        "components": "Composants",
        "uptime_caption": "Disponibilité sur les 90 derniers jours",
        "uptime": "disponibilité {pct}",
        "no_data": "aucune donnée",
        "day": "{date} : {value}",
        "days_ago": "il y a 90 jours",
        "today": "Aujourd’hui",
        "past_incidents": "Incidents passés (14 derniers jours)",
        "no_past_incidents": "Aucun incident au cours des 14 derniers jours.",
        "resolved_at": "Résolu le {time}",
        "postmortem": "Rapport d’incident",
        "contact": "Contact",
        "contact_intro": "Une question sur un incident ? Contactez {name}.",
        "email": "E-mail",
        "phone": "Téléphone",
        "feed": "S’abonner aux mises à jour (flux Atom)",
        "api": "API JSON",
        "times_in": "Les heures sont indiquées dans le fuseau {zone}.",
        "feed_title": "Incidents de {service}",
        "more": "Détails",
        "dismiss": "Fermer",
    },
    "ar": {
        "title": "حالة {service}",
        "skip": "انتقل إلى المحتوى",
        "language": "اللغة",
        "overall_operational": "جميع الأنظمة تعمل",
        "overall_degraded": "بعض الأنظمة تعمل بأداء منخفض",
        "overall_partial_outage": "انقطاع جزئي",
        "overall_major_outage": "انقطاع كبير",
        "overall_maintenance": "صيانة مجدولة جارية",
        "operational": "يعمل",
        "degraded": "أداء منخفض",
        "partial_outage": "انقطاع جزئي",
        "major_outage": "انقطاع كبير",
        "maintenance": "قيد الصيانة",
        "investigating": "قيد التحقيق",
        "identified": "تم تحديد السبب",
        "monitoring": "قيد المراقبة",
        "resolved": "تم الحل",
        "current_incidents": "الحوادث الحالية",
        "affected": "المتأثر",
        "started": "البداية",
        "updates": "التحديثات",
        "next_update": "التحديث التالي بحلول {time}",
        "maintenance_heading": "الصيانة المجدولة",
        "in_progress": "جارية",
        "window": "من {start} إلى {end}",
        "components": "المكونات",
        "uptime_caption": "نسبة التوفر خلال آخر 90 يومًا",
        "uptime": "نسبة التوفر {pct}",
        "no_data": "لا توجد بيانات",
        "day": "{date}: {value}",
        "days_ago": "قبل 90 يومًا",
        "today": "اليوم",
        "past_incidents": "الحوادث السابقة (آخر 14 يومًا)",
        "no_past_incidents": "لا توجد حوادث خلال آخر 14 يومًا.",
        "resolved_at": "تم الحل {time}",
        "postmortem": "تقرير ما بعد الحادثة",
        "contact": "التواصل",
        "contact_intro": "لديك سؤال عن حادثة؟ تواصل مع {name}.",
        "email": "البريد الإلكتروني",
        "phone": "الهاتف",
        "feed": "اشترك في التحديثات (موجز Atom)",
        "api": "واجهة JSON",
        "times_in": "الأوقات معروضة بتوقيت {zone}.",
        "feed_title": "حوادث {service}",
        "more": "التفاصيل",
        "dismiss": "إغلاق",
    },
    "id": {
        "title": "Status {service}",
        "skip": "Langsung ke konten",
        "language": "Bahasa",
        "overall_operational": "Semua sistem berjalan normal",
        "overall_degraded": "Beberapa sistem melambat",
        "overall_partial_outage": "Gangguan sebagian",
        "overall_major_outage": "Gangguan besar",
        "overall_maintenance": "Pemeliharaan terjadwal sedang berlangsung",
        "operational": "Normal",
        "degraded": "Kinerja menurun",
        "partial_outage": "Gangguan sebagian",
        "major_outage": "Gangguan besar",
        "maintenance": "Dalam pemeliharaan",
        "investigating": "Sedang diselidiki",
        "identified": "Penyebab diketahui",
        "monitoring": "Dipantau",
        "resolved": "Selesai",
        "current_incidents": "Insiden saat ini",
        "affected": "Terdampak",
        "started": "Mulai",
        "updates": "Pembaruan",
        "next_update": "Pembaruan berikutnya paling lambat {time}",
        "maintenance_heading": "Pemeliharaan terjadwal",
        "in_progress": "Sedang berlangsung",
        "window": "{start} sampai {end}",
        "components": "Komponen",
        "uptime_caption": "Ketersediaan selama 90 hari terakhir",
        "uptime": "ketersediaan {pct}",
        "no_data": "tidak ada data",
        "day": "{date}: {value}",
        "days_ago": "90 hari lalu",
        "today": "Hari ini",
        "past_incidents": "Insiden sebelumnya (14 hari terakhir)",
        "no_past_incidents": "Tidak ada insiden dalam 14 hari terakhir.",
        "resolved_at": "Selesai {time}",
        "postmortem": "Laporan pascainsiden",
        "contact": "Kontak",
        "contact_intro": "Ada pertanyaan tentang insiden? Hubungi {name}.",
        "email": "Email",
        "phone": "Telepon",
        "feed": "Langganan pembaruan (feed Atom)",
        "api": "API JSON",
        "times_in": "Waktu ditampilkan dalam zona {zone}.",
        "feed_title": "Insiden {service}",
        "more": "Detail",
        "dismiss": "Tutup",
    },
}


def pick_language(query: str | None, accept_language: str | None, default: str) -> str:
    """`?lang=` first, then the browser's Accept-Language by weight, then the service default."""
    if query:
        base = _base(query)
        if base in LANGS:
            return base
    for tag in _ranked(accept_language or ""):
        base = _base(tag)
        if base in LANGS:
            return base
    base = _base(default)
    return base if base in LANGS else "en"


def _base(tag: str) -> str:
    return tag.strip().replace("_", "-").split("-")[0].lower()


def _ranked(header: str) -> list[str]:
    """Accept-Language tags, best first; q=0 means 'not this one', a bad q counts as 0."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0:
            ranked.append((-q, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


class Chrome:
    """The page's words and dates for one language and time zone."""

    def __init__(self, lang: str, timezone: str) -> None:
        self.lang = lang if lang in STRINGS else "en"
        self.locale = _locale(self.lang)
        self.zone = ZoneInfo(timezone)
        self.zone_name = timezone
        self.dir = "rtl" if self.locale.character_order == "right-to-left" else "ltr"

    def t(self, key: str, **values: str) -> str:
        text = STRINGS[self.lang].get(key) or STRINGS["en"][key]
        return text.format(**values) if values else text

    def when(self, ts: float) -> str:
        """A local date and time with a zone nobody misreads, in the reader's language."""
        moment = datetime.fromtimestamp(ts, self.zone)
        day = format_skeleton("yMMMd", moment, tzinfo=self.zone, locale=self.locale)
        time = format_time(moment, "short", tzinfo=self.zone, locale=self.locale)
        joiner = str(self.locale.datetime_formats["medium"]).replace("'", "")
        return joiner.format(f"{time} {self.zone_label(moment)}", day)

    def zone_label(self, moment: datetime) -> str:
        """'CET' where the locale has a well-known abbreviation, else 'UTC+1'."""
        name = get_timezone_name(moment, "short", locale=self.locale)
        if _ABBREVIATION.fullmatch(name):
            return name
        minutes = int((moment.utcoffset() or timedelta(0)).total_seconds() // 60)
        hours, rest = divmod(abs(minutes), 60)
        sign = "-" if minutes < 0 else "+"
        return f"UTC{sign}{hours}:{rest:02d}" if rest else f"UTC{sign}{hours}"

    def day(self, day: date) -> str:
        return format_date(day, "medium", locale=self.locale)

    def percent(self, ratio: float) -> str:
        return format_percent(ratio, "#,##0.##%", locale=self.locale)


@lru_cache(maxsize=16)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)
