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

# --- the published post-mortem page (detector.web.postmortem_page) --------------------------
# Its headings and fixed phrases, merged into STRINGS above; kept in one block on purpose.
# `{what}`/`{names}` are component names (a list), `{date}`/`{time}` local, `{severity}` a label.
_POSTMORTEM_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "pm_read": "Read the incident report",
        "pm_title": "Incident report: {title}",
        "pm_published": "Published {time}",
        "pm_back": "Back to the status page",
        "pm_summary": "Summary",
        "pm_impact": "Impact on you",
        "pm_timeline": "Timeline",
        "pm_cause": "Cause",
        "pm_actions": "What we are changing",
        "pm_summary_major_outage": "On {date}, an outage affected {what}.",
        "pm_summary_partial_outage": "On {date}, a partial outage affected {what}.",
        "pm_summary_degraded": "On {date}, {what} ran slower than usual.",
        "pm_summary_operational": "On {date}, we looked into a possible problem with {what}.",
        "pm_summary_end": "It lasted {duration}. Everything has worked normally since {time}.",
        "pm_summary_cause": "Below we explain the cause and what we are changing so that it "
        "does not happen again.",
        "pm_summary_no_cause": "We are still looking into the cause and will update this report.",
        "pm_sorry": "We are sorry for the trouble this caused.",
        "pm_impact_major_outage": "While it lasted:",
        "pm_impact_partial_outage": "While it lasted, some of you were affected:",
        "pm_impact_degraded": "While it lasted, these worked, but slower than usual:",
        "pm_impact_operational": "Affected:",
        "pm_severity": "Impact level",
        "pm_started": "Started",
        "pm_recovered": "Working again",
        "pm_resolved": "Incident closed",
        "pm_duration": "Duration",
        "pm_began": "The problem began.",
        "pm_detected": "Our monitoring detected the problem.",
        "pm_opened_by_team": "Our team opened the incident.",
        "pm_told_opened": "We told customers about the problem.",
        "pm_told_update": "We sent an update: we were still working on it.",
        "pm_told_severity": "We sent an update. New impact level: {severity}.",
        "pm_told_expanded": "We sent an update. Also affected: {names}.",
        "pm_told_identified": "We found the cause and told customers.",
        "pm_told_human": "Our team wrote:",
        "pm_told_monitoring": "The service worked again. We told customers and kept watching it.",
        "pm_told_recurred": "The problem came back. We told customers.",
        "pm_told_resolved": "We closed the incident and told customers.",
        "pm_told_postmortem": "We published this report.",
        "pm_recovered_step": "The service worked normally again.",
        "pm_resolved_step": "The incident was closed.",
        "pm_cause_unknown": "We are still looking into the cause. We will update this report "
        "when we know more.",
        "pm_actions_unknown": "We will add here what we are changing.",
        "pm_times_in": "Times are shown in {zone}.",
    },
    "pl": {
        "pm_read": "Przeczytaj raport z incydentu",
        "pm_title": "Raport z incydentu: {title}",
        "pm_published": "Opublikowano {time}",
        "pm_back": "Wróć do strony statusu",
        "pm_summary": "Podsumowanie",
        "pm_impact": "Wpływ na klientów",
        "pm_timeline": "Przebieg zdarzeń",
        "pm_cause": "Przyczyna",
        "pm_actions": "Co zmieniamy",
        "pm_summary_major_outage": "Dnia {date} wystąpiła awaria, która objęła: {what}.",
        "pm_summary_partial_outage": "Dnia {date} wystąpiła częściowa awaria, która objęła: "
        "{what}.",
        "pm_summary_degraded": "Dnia {date} wystąpiło spowolnienie, które objęło: {what}.",
        "pm_summary_operational": "Dnia {date} sprawdzaliśmy możliwy problem, który dotyczył: "
        "{what}.",
        "pm_summary_end": "Czas trwania: {duration}. Od {time} wszystko działa normalnie.",
        "pm_summary_cause": "Poniżej opisujemy przyczynę i to, co zmieniamy, aby problem się "
        "nie powtórzył.",
        "pm_summary_no_cause": "Wciąż ustalamy przyczynę i uzupełnimy ten raport.",
        "pm_sorry": "Przepraszamy za utrudnienia.",
        "pm_impact_major_outage": "W czasie awarii:",
        "pm_impact_partial_outage": "W czasie awarii problem dotknął części klientów:",
        "pm_impact_degraded": "W czasie spowolnienia te usługi działały wolniej niż zwykle:",
        "pm_impact_operational": "Dotyczyło:",
        "pm_severity": "Skala problemu",
        "pm_started": "Początek",
        "pm_recovered": "Przywrócenie działania",
        "pm_resolved": "Zamknięcie incydentu",
        "pm_duration": "Czas trwania",
        "pm_began": "Pojawił się problem.",
        "pm_detected": "Nasz monitoring wykrył problem.",
        "pm_opened_by_team": "Nasz zespół otworzył incydent.",
        "pm_told_opened": "Poinformowaliśmy klientów o problemie.",
        "pm_told_update": "Wysłaliśmy aktualizację: nadal pracowaliśmy nad problemem.",
        "pm_told_severity": "Wysłaliśmy aktualizację. Nowa skala problemu: {severity}.",
        "pm_told_expanded": "Wysłaliśmy aktualizację. Problem objął także: {names}.",
        "pm_told_identified": "Ustaliliśmy przyczynę i poinformowaliśmy klientów.",
        "pm_told_human": "Wiadomość od naszego zespołu:",
        "pm_told_monitoring": "Usługa znów działała. Poinformowaliśmy klientów i nadal ją "
        "obserwowaliśmy.",
        "pm_told_recurred": "Problem powrócił. Poinformowaliśmy klientów.",
        "pm_told_resolved": "Zamknęliśmy incydent i poinformowaliśmy klientów.",
        "pm_told_postmortem": "Opublikowaliśmy ten raport.",
        "pm_recovered_step": "Usługa znów działała normalnie.",
        "pm_resolved_step": "Incydent został zamknięty.",
        "pm_cause_unknown": "Wciąż ustalamy przyczynę. Uzupełnimy ten raport, gdy będziemy "
        "wiedzieć więcej.",
        "pm_actions_unknown": "Wkrótce dodamy tu, co zmieniamy.",
        "pm_times_in": "Strefa czasowa: {zone}.",
    },
    "fr": {
        "pm_read": "Lire le rapport d’incident",
        "pm_title": "Rapport d’incident : {title}",
        "pm_published": "Publié le {time}",
        "pm_back": "Retour à la page d’état",
        "pm_summary": "Résumé",
        "pm_impact": "Conséquences pour vous",
        "pm_timeline": "Chronologie",
        "pm_cause": "Cause",
        "pm_actions": "Ce que nous changeons",
        "pm_summary_major_outage": "Le {date}, une panne a touché : {what}.",
        "pm_summary_partial_outage": "Le {date}, une panne partielle a touché : {what}.",
        "pm_summary_degraded": "Le {date}, un ralentissement a touché : {what}.",
        "pm_summary_operational": "Le {date}, nous avons examiné un possible problème "
        "concernant : {what}.",
        "pm_summary_end": "Durée : {duration}. Tout fonctionne normalement depuis le {time}.",
        "pm_summary_cause": "Vous trouverez ci-dessous la cause et ce que nous changeons pour "
        "éviter que cela se reproduise.",
        "pm_summary_no_cause": "Nous recherchons encore la cause et compléterons ce rapport.",
        "pm_sorry": "Nous vous prions de nous excuser pour la gêne occasionnée.",
        "pm_impact_major_outage": "Pendant la panne :",
        "pm_impact_partial_outage": "Pendant la panne, une partie des clients a été touchée :",
        "pm_impact_degraded": "Pendant le ralentissement, ces services ont fonctionné plus "
        "lentement que d’habitude :",
        "pm_impact_operational": "Concerné :",
        "pm_severity": "Gravité",
        "pm_started": "Début",
        "pm_recovered": "Retour à la normale",
        "pm_resolved": "Incident clos",
        "pm_duration": "Durée",
        "pm_began": "Le problème a commencé.",
        "pm_detected": "Notre surveillance a détecté le problème.",
        "pm_opened_by_team": "Notre équipe a ouvert l’incident.",
        "pm_told_opened": "Nous avons informé les clients du problème.",
        "pm_told_update": "Nous avons envoyé une mise à jour : nous travaillions toujours à "
        "résoudre le problème.",
        "pm_told_severity": "Nous avons envoyé une mise à jour. Nouvelle gravité : {severity}.",
        "pm_told_expanded": "Nous avons envoyé une mise à jour. Également touché : {names}.",
        "pm_told_identified": "Nous avons trouvé la cause et informé les clients.",
        "pm_told_human": "Message de notre équipe :",
        "pm_told_monitoring": "Le service fonctionnait de nouveau. Nous avons informé les "
        "clients et l’avons gardé sous surveillance.",
        "pm_told_recurred": "Le problème est revenu. Nous avons informé les clients.",
        "pm_told_resolved": "Nous avons clos l’incident et informé les clients.",
        "pm_told_postmortem": "Nous avons publié ce rapport.",
        "pm_recovered_step": "Le service fonctionnait de nouveau normalement.",
        "pm_resolved_step": "L’incident a été clos.",
        "pm_cause_unknown": "Nous recherchons encore la cause. Nous compléterons ce rapport dès "
        "que nous en saurons plus.",
        "pm_actions_unknown": "Nous indiquerons bientôt ici ce que nous changeons.",
        "pm_times_in": "Fuseau horaire : {zone}.",
    },
    "ar": {
        "pm_read": "اقرأ تقرير الحادثة",
        "pm_title": "تقرير الحادثة: {title}",
        "pm_published": "نُشر في {time}",
        "pm_back": "العودة إلى صفحة الحالة",
        "pm_summary": "الملخص",
        "pm_impact": "التأثير عليكم",
        "pm_timeline": "التسلسل الزمني",
        "pm_cause": "السبب",
        "pm_actions": "ما الذي نغيّره",
        "pm_summary_major_outage": "في {date}، وقع انقطاع أثّر على: {what}.",
        "pm_summary_partial_outage": "في {date}، وقع انقطاع جزئي أثّر على: {what}.",
        "pm_summary_degraded": "في {date}، حدث بطء أثّر على: {what}.",
        "pm_summary_operational": "في {date}، تحققنا من مشكلة محتملة تخص: {what}.",
        "pm_summary_end": "المدة: {duration}. ويعمل كل شيء بشكل طبيعي منذ {time}.",
        "pm_summary_cause": "نوضح أدناه السبب وما نغيّره حتى لا يتكرر ذلك.",
        "pm_summary_no_cause": "ما زلنا نبحث عن السبب وسنحدّث هذا التقرير.",
        "pm_sorry": "نعتذر عن الإزعاج الذي سببه ذلك.",
        "pm_impact_major_outage": "أثناء الانقطاع:",
        "pm_impact_partial_outage": "أثناء الانقطاع، تأثر بعض العملاء:",
        "pm_impact_degraded": "أثناء البطء، عملت هذه الخدمات أبطأ من المعتاد:",
        "pm_impact_operational": "المتأثر:",
        "pm_severity": "درجة التأثير",
        "pm_started": "البداية",
        "pm_recovered": "عودة العمل",
        "pm_resolved": "إغلاق الحادثة",
        "pm_duration": "المدة",
        "pm_began": "بدأت المشكلة.",
        "pm_detected": "اكتشفت أنظمة المراقبة لدينا المشكلة.",
        "pm_opened_by_team": "فتح فريقنا الحادثة.",
        "pm_told_opened": "أبلغنا العملاء بالمشكلة.",
        "pm_told_update": "أرسلنا تحديثًا: كنا ما زلنا نعمل على حلها.",
        "pm_told_severity": "أرسلنا تحديثًا. درجة التأثير الجديدة: {severity}.",
        "pm_told_expanded": "أرسلنا تحديثًا. تأثر أيضًا: {names}.",
        "pm_told_identified": "حددنا السبب وأبلغنا العملاء.",
        "pm_told_human": "رسالة من فريقنا:",
        "pm_told_monitoring": "عادت الخدمة إلى العمل. أبلغنا العملاء وواصلنا مراقبتها.",
        "pm_told_recurred": "عادت المشكلة. أبلغنا العملاء.",
        "pm_told_resolved": "أغلقنا الحادثة وأبلغنا العملاء.",
        "pm_told_postmortem": "نشرنا هذا التقرير.",
        "pm_recovered_step": "عادت الخدمة إلى العمل بشكل طبيعي.",
        "pm_resolved_step": "أُغلقت الحادثة.",
        "pm_cause_unknown": "ما زلنا نبحث عن السبب. سنحدّث هذا التقرير عندما نعرف المزيد.",
        "pm_actions_unknown": "سنضيف هنا قريبًا ما نغيّره.",
        "pm_times_in": "المنطقة الزمنية: {zone}.",
    },
    "id": {
        "pm_read": "Baca laporan insiden",
        "pm_title": "Laporan insiden: {title}",
        "pm_published": "Diterbitkan {time}",
        "pm_back": "Kembali ke halaman status",
        "pm_summary": "Ringkasan",
        "pm_impact": "Dampak bagi Anda",
        "pm_timeline": "Kronologi",
        "pm_cause": "Penyebab",
        "pm_actions": "Yang kami ubah",
        "pm_summary_major_outage": "Pada {date}, terjadi gangguan yang berdampak pada: {what}.",
        "pm_summary_partial_outage": "Pada {date}, terjadi gangguan sebagian yang berdampak "
        "pada: {what}.",
        "pm_summary_degraded": "Pada {date}, terjadi perlambatan yang berdampak pada: {what}.",
        "pm_summary_operational": "Pada {date}, kami memeriksa kemungkinan masalah pada: {what}.",
        "pm_summary_end": "Durasi: {duration}. Semua berjalan normal kembali sejak {time}.",
        "pm_summary_cause": "Di bawah ini kami jelaskan penyebabnya dan apa yang kami ubah agar "
        "tidak terulang.",
        "pm_summary_no_cause": "Kami masih mencari penyebabnya dan akan memperbarui laporan ini.",
        "pm_sorry": "Kami mohon maaf atas ketidaknyamanan ini.",
        "pm_impact_major_outage": "Selama gangguan:",
        "pm_impact_partial_outage": "Selama gangguan, sebagian pelanggan terdampak:",
        "pm_impact_degraded": "Selama perlambatan, layanan berikut berjalan lebih lambat dari "
        "biasanya:",
        "pm_impact_operational": "Terdampak:",
        "pm_severity": "Tingkat dampak",
        "pm_started": "Mulai",
        "pm_recovered": "Berfungsi kembali",
        "pm_resolved": "Insiden ditutup",
        "pm_duration": "Durasi",
        "pm_began": "Masalah dimulai.",
        "pm_detected": "Pemantauan kami mendeteksi masalah.",
        "pm_opened_by_team": "Tim kami membuka insiden.",
        "pm_told_opened": "Kami memberi tahu pelanggan tentang masalah ini.",
        "pm_told_update": "Kami mengirim pembaruan: kami masih menanganinya.",
        "pm_told_severity": "Kami mengirim pembaruan. Tingkat dampak baru: {severity}.",
        "pm_told_expanded": "Kami mengirim pembaruan. Juga terdampak: {names}.",
        "pm_told_identified": "Kami menemukan penyebabnya dan memberi tahu pelanggan.",
        "pm_told_human": "Pesan dari tim kami:",
        "pm_told_monitoring": "Layanan berfungsi kembali. Kami memberi tahu pelanggan dan terus "
        "memantaunya.",
        "pm_told_recurred": "Masalah muncul kembali. Kami memberi tahu pelanggan.",
        "pm_told_resolved": "Kami menutup insiden dan memberi tahu pelanggan.",
        "pm_told_postmortem": "Kami menerbitkan laporan ini.",
        "pm_recovered_step": "Layanan kembali berfungsi normal.",
        "pm_resolved_step": "Insiden ditutup.",
        "pm_cause_unknown": "Kami masih mencari penyebabnya. Laporan ini akan kami perbarui "
        "setelah kami tahu lebih banyak.",
        "pm_actions_unknown": "Kami akan segera menambahkan di sini apa yang kami ubah.",
        "pm_times_in": "Zona waktu: {zone}.",
    },
}
for _lang, _words in _POSTMORTEM_STRINGS.items():
    STRINGS[_lang].update(_words)
# --- end of the post-mortem page's words ----------------------------------------------------

# --- subscriptions: the status page's form, the confirm/unsubscribe/preferences pages and the
# confirmation e-mail (detector.web.subscribe); merged into STRINGS above, kept in one block.
# `{email}` is the reader's address, `{service}` the service's name. "48 hours" is
# detector.web.subscribe.CONFIRM_TTL.
_SUBSCRIPTION_STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "sub_heading": "Get notices by e-mail",
        "sub_intro": "We e-mail you when something breaks, while we fix it, and when it works "
        "again.",
        "sub_email": "E-mail address",
        "sub_which": "Tell me about",
        "sub_none_all": "None ticked means all.",
        "sub_timezone": "Time zone (such as Europe/Warsaw)",
        "sub_submit": "Subscribe",
        "sub_sent_title": "Check your inbox",
        "sub_sent": "If {email} can receive e-mail, a link to confirm is on its way. We send "
        "nothing else until it is opened.",
        "sub_confirmed_title": "You are subscribed",
        "sub_confirmed": "We will e-mail {email} when {service} has an outage, with updates "
        "until it is over. Every e-mail has a link to unsubscribe or to change what you get.",
        "sub_manage_link": "Change what you get",
        "sub_manage_title": "Your e-mail notices",
        "sub_manage_intro": "Notices about {service} go to {email}.",
        "sub_manage_off": "{email} gets no notices about {service}.",
        "sub_unsubscribe": "Unsubscribe",
        "sub_unsubscribe_intro": "Stop all e-mail notices with one click:",
        "sub_unsubscribed_title": "You are unsubscribed",
        "sub_unsubscribed": "We will send no more notices to {email}. The status page always "
        "shows what is going on.",
        "sub_prefs_heading": "Choose what you get",
        "sub_save": "Save preferences",
        "sub_resubscribe": "Subscribe again",
        "sub_saved_title": "Preferences saved",
        "sub_saved": "Your next notice follows them.",
        "sub_link_bad_title": "This link does not work",
        "sub_link_expired": "This link has expired. Subscribe again on the status page to get "
        "a new one.",
        "sub_link_forged": "This link is not valid. Use the link from our most recent e-mail.",
        "sub_link_used": "This link no longer works: a newer one was sent, or the address was "
        "unsubscribed.",
        "sub_error_title": "Please check the form",
        "sub_error_field": "This is not right: {field}.",
        "sub_busy_title": "Too many requests",
        "sub_busy": "Please try again in a few minutes.",
        "sub_off_title": "Subscriptions are not available",
        "sub_off": "We cannot send e-mail right now. Please try again later.",
        "sub_back": "Back to the status page",
        "mail_hello": "Hello,",
        "mail_confirm_subject": "Confirm your e-mail notices from {service}",
        "mail_confirm_intro": "Someone (we hope it was you) asked for {service} outage notices "
        "at this address.",
        "mail_confirm_action": "To confirm, open this link within 48 hours:",
        "mail_confirm_ignore": "If it was not you, ignore this e-mail: we will send nothing more.",
        "mail_manage_subject": "Your e-mail notices from {service}",
        "mail_manage_intro": "This address already gets {service} outage notices.",
        "mail_manage_action": "To change what you get, or to unsubscribe, open this link:",
        "mail_manage_ignore": "If you did not ask for this, ignore this e-mail: nothing changes.",
        "mail_signature": "{name}, {service}",
    },
    "pl": {
        "sub_heading": "Powiadomienia e-mail",
        "sub_intro": "Napiszemy do Ciebie, gdy coś przestanie działać, w trakcie naprawy i gdy "
        "wszystko znów zadziała.",
        "sub_email": "Adres e-mail",
        "sub_which": "Powiadamiaj mnie o",
        "sub_none_all": "Brak zaznaczenia oznacza wszystkie.",
        "sub_timezone": "Strefa czasowa (np. Europe/Warsaw)",
        "sub_submit": "Subskrybuj",
        "sub_sent_title": "Sprawdź skrzynkę",
        "sub_sent": "Jeśli adres {email} może odbierać pocztę, wysłaliśmy na niego link "
        "potwierdzający. Dopóki go nie otworzysz, nie wyślemy nic więcej.",
        "sub_confirmed_title": "Subskrypcja potwierdzona",
        "sub_confirmed": "Gdy w usłudze {service} wystąpi awaria, napiszemy na adres {email} i "
        "będziemy informować aż do jej końca. Każda wiadomość zawiera link do rezygnacji lub "
        "zmiany ustawień.",
        "sub_manage_link": "Zmień ustawienia powiadomień",
        "sub_manage_title": "Twoje powiadomienia e-mail",
        "sub_manage_intro": "Powiadomienia o usłudze {service} trafiają na adres {email}.",
        "sub_manage_off": "Adres {email} nie otrzymuje powiadomień o usłudze {service}.",
        "sub_unsubscribe": "Zrezygnuj z subskrypcji",
        "sub_unsubscribe_intro": "Wyłącz wszystkie powiadomienia e-mail jednym kliknięciem:",
        "sub_unsubscribed_title": "Subskrypcja anulowana",
        "sub_unsubscribed": "Nie wyślemy już powiadomień na adres {email}. Aktualny stan zawsze "
        "znajdziesz na stronie statusu.",
        "sub_prefs_heading": "Wybierz, o czym chcesz wiedzieć",
        "sub_save": "Zapisz ustawienia",
        "sub_resubscribe": "Subskrybuj ponownie",
        "sub_saved_title": "Ustawienia zapisane",
        "sub_saved": "Kolejne powiadomienie będzie już z nimi zgodne.",
        "sub_link_bad_title": "Ten link nie działa",
        "sub_link_expired": "Ten link wygasł. Zapisz się ponownie na stronie statusu, aby "
        "otrzymać nowy.",
        "sub_link_forged": "Ten link jest nieprawidłowy. Użyj linku z naszej najnowszej "
        "wiadomości.",
        "sub_link_used": "Ten link już nie działa: wysłaliśmy nowszy albo subskrypcja została "
        "anulowana.",
        "sub_error_title": "Sprawdź formularz",
        "sub_error_field": "To pole jest niepoprawne: {field}.",
        "sub_busy_title": "Zbyt wiele prób",
        "sub_busy": "Spróbuj ponownie za kilka minut.",
        "sub_off_title": "Subskrypcja jest niedostępna",
        "sub_off": "Nie możemy teraz wysyłać wiadomości e-mail. Spróbuj ponownie później.",
        "sub_back": "Wróć do strony statusu",
        "mail_hello": "Dzień dobry,",
        "mail_confirm_subject": "Potwierdź powiadomienia e-mail: {service}",
        "mail_confirm_intro": "Ktoś (mamy nadzieję, że Ty) poprosił o powiadomienia o awariach "
        "usługi {service} na ten adres.",
        "mail_confirm_action": "Aby potwierdzić, otwórz ten link w ciągu 48 godzin:",
        "mail_confirm_ignore": "Jeśli to nie Ty, zignoruj tę wiadomość: nie wyślemy nic więcej.",
        "mail_manage_subject": "Twoje powiadomienia e-mail: {service}",
        "mail_manage_intro": "Ten adres już otrzymuje powiadomienia o awariach usługi {service}.",
        "mail_manage_action": "Aby zmienić ustawienia lub zrezygnować, otwórz ten link:",
        "mail_manage_ignore": "Jeśli to nie Twoja prośba, zignoruj tę wiadomość: nic się nie "
        "zmieni.",
        "mail_signature": "{name}, {service}",
    },
    "fr": {
        "sub_heading": "Notifications par e-mail",
        "sub_intro": "Nous vous écrivons quand un service tombe en panne, pendant que nous le "
        "réparons et quand il fonctionne de nouveau.",
        "sub_email": "Adresse e-mail",
        "sub_which": "Me prévenir pour",
        "sub_none_all": "Aucune case cochée : tous les composants.",
        "sub_timezone": "Fuseau horaire (par exemple Europe/Paris)",
        "sub_submit": "S’abonner",
        "sub_sent_title": "Consultez votre boîte de réception",
        "sub_sent": "Si l’adresse {email} peut recevoir des e-mails, un lien de confirmation "
        "est en route. Nous n’enverrons rien d’autre tant qu’il n’aura pas été ouvert.",
        "sub_confirmed_title": "Votre abonnement est confirmé",
        "sub_confirmed": "Nous écrirons à {email} en cas de panne de {service}, avec des "
        "nouvelles jusqu’à la fin de l’incident. Chaque e-mail contient un lien pour vous "
        "désabonner ou choisir ce que vous recevez.",
        "sub_manage_link": "Choisir ce que vous recevez",
        "sub_manage_title": "Vos notifications par e-mail",
        "sub_manage_intro": "Les notifications de {service} sont envoyées à {email}.",
        "sub_manage_off": "{email} ne reçoit aucune notification de {service}.",
        "sub_unsubscribe": "Se désabonner",
        "sub_unsubscribe_intro": "Arrêter toutes les notifications par e-mail en un clic :",
        "sub_unsubscribed_title": "Votre désabonnement est confirmé",
        "sub_unsubscribed": "Nous n’enverrons plus de notifications à {email}. La page d’état "
        "indique toujours ce qui se passe.",
        "sub_prefs_heading": "Choisir ce que vous recevez",
        "sub_save": "Enregistrer",
        "sub_resubscribe": "Se réabonner",
        "sub_saved_title": "Préférences enregistrées",
        "sub_saved": "Votre prochaine notification en tiendra compte.",
        "sub_link_bad_title": "Ce lien ne fonctionne pas",
        "sub_link_expired": "Ce lien a expiré. Abonnez-vous de nouveau sur la page d’état pour "
        "en recevoir un nouveau.",
        "sub_link_forged": "Ce lien n’est pas valide. Utilisez le lien de notre e-mail le plus "
        "récent.",
        "sub_link_used": "Ce lien ne fonctionne plus : un lien plus récent a été envoyé, ou "
        "l’adresse a été désabonnée.",
        "sub_error_title": "Veuillez vérifier le formulaire",
        "sub_error_field": "Ce champ n’est pas correct : {field}.",
        "sub_busy_title": "Trop de demandes",
        "sub_busy": "Veuillez réessayer dans quelques minutes.",
        "sub_off_title": "Abonnement indisponible",
        "sub_off": "Nous ne pouvons pas envoyer d’e-mail pour le moment. Veuillez réessayer "
        "plus tard.",
        "sub_back": "Retour à la page d’état",
        "mail_hello": "Bonjour,",
        "mail_confirm_subject": "Confirmez vos notifications par e-mail de {service}",
        "mail_confirm_intro": "Quelqu’un (vous, nous l’espérons) a demandé à recevoir à cette "
        "adresse les notifications de panne de {service}.",
        "mail_confirm_action": "Pour confirmer, ouvrez ce lien dans les 48 heures :",
        "mail_confirm_ignore": "Si ce n’était pas vous, ignorez cet e-mail : nous n’enverrons "
        "rien d’autre.",
        "mail_manage_subject": "Vos notifications par e-mail de {service}",
        "mail_manage_intro": "Cette adresse reçoit déjà les notifications de panne de {service}.",
        "mail_manage_action": "Pour choisir ce que vous recevez, ou vous désabonner, ouvrez ce "
        "lien :",
        "mail_manage_ignore": "Si vous n’avez rien demandé, ignorez cet e-mail : rien ne change.",
        "mail_signature": "{name}, {service}",
    },
    "ar": {
        "sub_heading": "الإشعارات عبر البريد الإلكتروني",
        "sub_intro": "نراسلك عندما يتعطل شيء ما، وأثناء إصلاحه، وعندما يعود إلى العمل.",
        "sub_email": "عنوان البريد الإلكتروني",
        "sub_which": "أبلغني عن",
        "sub_none_all": "عدم تحديد أي خيار يعني الكل.",
        "sub_timezone": "المنطقة الزمنية (مثل Asia/Riyadh)",
        "sub_submit": "اشترك",
        "sub_sent_title": "تحقق من بريدك الوارد",
        "sub_sent": "إذا كان بإمكان {email} استقبال البريد، فإن رابط التأكيد في طريقه إليك. "
        "لن نرسل أي شيء آخر حتى تفتحه.",
        "sub_confirmed_title": "تم تأكيد اشتراكك",
        "sub_confirmed": "سنراسل {email} عند حدوث انقطاع في {service}، ونوافيك بالتحديثات حتى "
        "انتهائه. تحتوي كل رسالة على رابط لإلغاء الاشتراك أو لتغيير ما يصلك.",
        "sub_manage_link": "غيّر ما يصلك",
        "sub_manage_title": "إشعاراتك عبر البريد الإلكتروني",
        "sub_manage_intro": "تُرسل إشعارات {service} إلى {email}.",
        "sub_manage_off": "لا يتلقى {email} أي إشعارات من {service}.",
        "sub_unsubscribe": "إلغاء الاشتراك",
        "sub_unsubscribe_intro": "أوقف جميع الإشعارات عبر البريد الإلكتروني بنقرة واحدة:",
        "sub_unsubscribed_title": "تم إلغاء اشتراكك",
        "sub_unsubscribed": "لن نرسل المزيد من الإشعارات إلى {email}. تعرض صفحة الحالة دائمًا "
        "ما يحدث.",
        "sub_prefs_heading": "اختر ما يصلك",
        "sub_save": "احفظ التفضيلات",
        "sub_resubscribe": "اشترك من جديد",
        "sub_saved_title": "تم حفظ التفضيلات",
        "sub_saved": "سيتبعها إشعارك التالي.",
        "sub_link_bad_title": "هذا الرابط لا يعمل",
        "sub_link_expired": "انتهت صلاحية هذا الرابط. اشترك من جديد في صفحة الحالة لتحصل على "
        "رابط جديد.",
        "sub_link_forged": "هذا الرابط غير صالح. استخدم الرابط الموجود في أحدث رسالة منا.",
        "sub_link_used": "لم يعد هذا الرابط يعمل: أرسلنا رابطًا أحدث، أو أُلغي اشتراك هذا العنوان.",
        "sub_error_title": "يرجى مراجعة النموذج",
        "sub_error_field": "هذا الحقل غير صحيح: {field}.",
        "sub_busy_title": "طلبات كثيرة جدًا",
        "sub_busy": "يرجى المحاولة مرة أخرى بعد بضع دقائق.",
        "sub_off_title": "الاشتراك غير متاح",
        "sub_off": "لا يمكننا إرسال البريد الإلكتروني الآن. يرجى المحاولة لاحقًا.",
        "sub_back": "العودة إلى صفحة الحالة",
        "mail_hello": "مرحبًا،",
        "mail_confirm_subject": "أكّد اشتراكك في إشعارات {service} عبر البريد الإلكتروني",
        "mail_confirm_intro": "طلب أحدهم، ونأمل أن تكون أنت، تلقي إشعارات انقطاع {service} على "
        "هذا العنوان.",
        "mail_confirm_action": "للتأكيد، افتح هذا الرابط خلال 48 ساعة:",
        "mail_confirm_ignore": "إذا لم تكن أنت صاحب الطلب، فتجاهل هذه الرسالة: لن نرسل أي شيء آخر.",
        "mail_manage_subject": "إشعارات {service} عبر البريد الإلكتروني",
        "mail_manage_intro": "يتلقى هذا العنوان إشعارات انقطاع {service} بالفعل.",
        "mail_manage_action": "لتغيير ما يصلك أو لإلغاء الاشتراك، افتح هذا الرابط:",
        "mail_manage_ignore": "إذا لم تطلب ذلك، فتجاهل هذه الرسالة: لن يتغير شيء.",
        "mail_signature": "{name}، {service}",
    },
    "id": {
        "sub_heading": "Notifikasi lewat email",
        "sub_intro": "Kami mengirim email saat ada gangguan, selama kami memperbaikinya, dan "
        "saat semuanya kembali normal.",
        "sub_email": "Alamat email",
        "sub_which": "Beri tahu saya tentang",
        "sub_none_all": "Jika tidak ada yang dicentang, berarti semua.",
        "sub_timezone": "Zona waktu (misalnya Asia/Jakarta)",
        "sub_submit": "Berlangganan",
        "sub_sent_title": "Periksa kotak masuk Anda",
        "sub_sent": "Jika {email} dapat menerima email, tautan konfirmasi sedang dikirim. Kami "
        "tidak mengirim apa pun lagi sampai tautan itu dibuka.",
        "sub_confirmed_title": "Langganan Anda aktif",
        "sub_confirmed": "Kami akan mengirim email ke {email} saat {service} mengalami "
        "gangguan, beserta pembaruan hingga selesai. Setiap email berisi tautan untuk berhenti "
        "berlangganan atau mengubah apa yang Anda terima.",
        "sub_manage_link": "Ubah apa yang Anda terima",
        "sub_manage_title": "Notifikasi email Anda",
        "sub_manage_intro": "Notifikasi tentang {service} dikirim ke {email}.",
        "sub_manage_off": "{email} tidak menerima notifikasi tentang {service}.",
        "sub_unsubscribe": "Berhenti berlangganan",
        "sub_unsubscribe_intro": "Hentikan semua notifikasi email dengan satu klik:",
        "sub_unsubscribed_title": "Anda telah berhenti berlangganan",
        "sub_unsubscribed": "Kami tidak akan mengirim notifikasi lagi ke {email}. Halaman "
        "status selalu menunjukkan apa yang sedang terjadi.",
        "sub_prefs_heading": "Pilih apa yang Anda terima",
        "sub_save": "Simpan preferensi",
        "sub_resubscribe": "Berlangganan lagi",
        "sub_saved_title": "Preferensi disimpan",
        "sub_saved": "Notifikasi berikutnya akan mengikutinya.",
        "sub_link_bad_title": "Tautan ini tidak berfungsi",
        "sub_link_expired": "Tautan ini sudah kedaluwarsa. Berlangganan lagi di halaman status "
        "untuk mendapatkan tautan baru.",
        "sub_link_forged": "Tautan ini tidak valid. Gunakan tautan dari email terbaru kami.",
        "sub_link_used": "Tautan ini sudah tidak berlaku: tautan yang lebih baru telah dikirim, "
        "atau alamat ini sudah berhenti berlangganan.",
        "sub_error_title": "Periksa kembali formulir",
        "sub_error_field": "Isian ini belum benar: {field}.",
        "sub_busy_title": "Terlalu banyak permintaan",
        "sub_busy": "Silakan coba lagi dalam beberapa menit.",
        "sub_off_title": "Langganan tidak tersedia",
        "sub_off": "Kami tidak dapat mengirim email saat ini. Silakan coba lagi nanti.",
        "sub_back": "Kembali ke halaman status",
        "mail_hello": "Halo,",
        "mail_confirm_subject": "Konfirmasi notifikasi email dari {service}",
        "mail_confirm_intro": "Seseorang (semoga Anda) meminta notifikasi gangguan {service} "
        "dikirim ke alamat ini.",
        "mail_confirm_action": "Untuk mengonfirmasi, buka tautan ini dalam 48 jam:",
        "mail_confirm_ignore": "Jika bukan Anda, abaikan email ini: kami tidak akan mengirim "
        "apa pun lagi.",
        "mail_manage_subject": "Notifikasi email Anda dari {service}",
        "mail_manage_intro": "Alamat ini sudah menerima notifikasi gangguan {service}.",
        "mail_manage_action": "Untuk mengubah apa yang Anda terima, atau berhenti berlangganan, "
        "buka tautan ini:",
        "mail_manage_ignore": "Jika Anda tidak memintanya, abaikan email ini: tidak ada yang "
        "berubah.",
        "mail_signature": "{name}, {service}",
    },
}
for _lang, _words in _SUBSCRIPTION_STRINGS.items():
    STRINGS[_lang].update(_words)
# --- end of the subscription words ---------------------------------------------------------


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

    def zone_title(self, moment: datetime) -> str:
        """'czas środkowoeuropejski (CET)': the zone's name in the reader's language, with the
        label the page's times carry, not the IANA id ("Europe/Warsaw") in every language."""
        moment = moment.astimezone(self.zone)
        name = get_timezone_name(self.zone, "long", locale=self.locale)
        if "(" in name:  # no generic name, only a city's ("Indonesia (Jakarta) Time")
            name = get_timezone_name(moment, "long", locale=self.locale)
        label = self.zone_label(moment)
        return name if label in name else f"{name} ({label})"

    def day(self, day: date) -> str:
        return format_date(day, "medium", locale=self.locale)

    def percent(self, ratio: float) -> str:
        return format_percent(ratio, "#,##0.##%", locale=self.locale)


@lru_cache(maxsize=16)
def _locale(lang: str) -> Locale:
    return Locale.parse(lang)
