"""Words for customers in several languages from the command line: `-m TEXT` (one text, in
the service's language) or `--message-in LANG TEXT` repeated (`--actions-in` for actions); the
command prints the subscribers' languages the words do not reach."""

from __future__ import annotations

import pytest

from detector.config.models import Subscriber
from tests.cli.conftest import Cli
from tests.web.conftest import TOKEN, UP, MakeWorld

FR = Subscriber(name="Globex", email="ops@globex.example", locale="fr", components=["web"])
PL = Subscriber(name="Kowalski", email="k@kowalski.example", locale="pl")


async def test_text_per_language_and_what_it_misses(
    make_world: MakeWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world(subscribers=[FR, PL])
    inc = await w.outage("web")
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    url = ["--url", w.url]

    code, out, err = await cli("incidents", "update", inc.id, *url, "-m", "We are on it.")
    assert code == 0, err
    assert "not in fr, pl: subscribers reading these get the notice without these words" in out

    code, out, err = await cli(
        "incidents", "update", inc.id, *url,
        "--message-in", "en", "We found it.",
        "--message-in", "fr", "Nous l'avons trouvé.",
    )  # fmt: skip
    assert code == 0, err
    assert "not in pl: subscribers reading it get" in out
    facts = (await w.store.notices([inc.id]))[inc.id][-1].facts
    assert facts["message_translations"] == {"en": "We found it.", "fr": "Nous l'avons trouvé."}

    code, out, err = await cli(
        "incidents", "cause", inc.id, *url,
        "--message-in", "en", "A full disk.",
        "--message-in", "fr", "Un disque plein.",
        "--message-in", "pl", "Pełny dysk.",
        "--actions-in", "en", "Alerts on disk use.",
        "--actions-in", "pl", "Alerty o zajętości dysku.",
    )  # fmt: skip
    assert code == 0, err
    assert "not in fr:" in out  # the actions lack French
    stored = await w.store.incident(inc.id)
    assert stored is not None and stored.cause == {
        "en": "A full disk.",
        "fr": "Un disque plein.",
        "pl": "Pełny dysk.",
    }

    await w.feed("web", UP, 2)
    code, out, err = await cli(
        "incidents", "resolve", inc.id, *url,
        "--message-in", "en", "Fixed.", "--message-in", "fr", "Réparé.",
        "--message-in", "pl", "Naprawione.",
    )  # fmt: skip
    assert code == 0, err
    assert "not in" not in out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--message-in", "qqq", "x"], "--message-in qqq: not a language (write e.g. en, fr"),
        (["--message-in", "fr", "a", "--message-in", "fr", "b"], "--message-in fr: given twice"),
        (["--message-in", "fr", "\x00 "], "--message-in fr: must not be empty"),
        (["-m", "x", "--message-in", "fr", "y"], "--message: give the text once"),
        ([], "--message: required (-m TEXT, or --message-in LANG TEXT per language)"),
    ],
)
async def test_bad_text_per_language_is_usage(
    make_world: MakeWorld,
    cli: Cli,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    error: str,
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    code, _, err = await cli("incidents", "update", inc.id, "--url", w.url, *args)
    assert code == 2 and err.startswith(f"error: {error}"), err
    assert len((await w.store.notices([inc.id]))[inc.id]) == 1  # nothing was published


async def test_the_service_language_is_needed_among_them(
    make_world: MakeWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world()
    inc = await w.outage("web")
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    code, _, err = await cli(
        "incidents", "update", inc.id, "--url", w.url, "--message-in", "fr", "Bonjour."
    )
    assert code == 2
    assert err == "error: --message: needs the text in the service's language 'en' too\n"


async def test_maintenance_text_per_language(
    make_world: MakeWorld, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = await make_world(subscribers=[FR, PL])
    monkeypatch.setenv("DETECTOR_ADMIN_TOKEN", TOKEN)
    code, out, err = await cli(
        "maintenance", "add", "--url", w.url, "--title", "Upgrade", "--component", "web",
        "--starts", "2027-01-16T00:00:00Z", "--ends", "2027-01-16T01:00:00Z",
        "--message-in", "en", "Brief interruptions.",
        "--message-in", "pl", "Krótkie przerwy.",
    )  # fmt: skip
    assert code == 0, err
    assert "not in fr:" in out
    rows = await w.store.maintenance_rows()
    assert rows[0].message == {"en": "Brief interruptions.", "pl": "Krótkie przerwy."}
