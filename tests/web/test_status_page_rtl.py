"""The Arabic status page as a reader sees it, in Chromium: right to left, in Arabic.

The DOM says so (lang, dir, the catalog's words, no English chrome) and so does the screenshot:
the ink of each line of text sits against the right edge of the content, where an English
page's sits against the left.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from PIL import Image

from detector.web.i18n import SOURCE, Chrome
from tests.web.browser import dump_dom, needs_chromium, screenshot
from tests.web.conftest import OUTPUT, MakeWorld

SIZE = (1000, 1400)


def ink_balance(path: Path) -> float:
    """Where dark pixels sit across the page: -1 all at the left edge, +1 all at the right."""
    with Image.open(path) as image:
        gray = image.convert("L")
        width, height = gray.size
        pixels = gray.load()
        assert pixels is not None
        left = right = 0
        for y in range(0, height, 2):
            for x in range(0, width, 2):
                value = pixels[x, y]
                if isinstance(value, int) and value < 110:  # text, not backgrounds or borders
                    if x < width / 2:
                        left += 1
                    else:
                        right += 1
    assert left + right > 500, f"{path}: no text drawn"
    return (right - left) / (right + left)


@needs_chromium
async def test_the_arabic_status_page_reads_right_to_left_in_chromium(
    make_world: MakeWorld,
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    r = await w.post(
        f"/api/v1/admin/incidents/{inc.id}/updates",
        {
            "status": "identified",
            "message": {
                "en": "We are moving the database to a new server.",
                "ar": "ننقل قاعدة البيانات إلى خادم جديد.",
            },
        },
    )
    assert r.status == 200, r.text
    ar_png, en_png = OUTPUT / "status-page-ar.png", OUTPUT / "status-page-en.png"
    dom, _, _ = await asyncio.gather(
        dump_dom(w.url + "?lang=ar"),
        screenshot(w.url + "?lang=ar", ar_png, SIZE),
        screenshot(w.url + "?lang=en", en_png, SIZE),
    )
    assert '<html lang="ar" dir="rtl"' in dom
    ar = Chrome("ar", w.config.service.timezone)
    for key in ("current_incidents", "components", "overall_major_outage"):
        assert ar.t(key) in dom, key
    for key in ("current_incidents", "components", "uptime_caption"):
        assert SOURCE[key] not in dom, f"English {key!r} on the Arabic page"
    assert "ننقل قاعدة البيانات إلى خادم جديد." in dom
    assert "We are moving the database" not in dom

    arabic, english = ink_balance(ar_png), ink_balance(en_png)
    assert arabic > 0.1, f"Arabic text is not laid out from the right ({arabic:+.2f})"
    assert english < -0.1, f"English text is not laid out from the left ({english:+.2f})"
