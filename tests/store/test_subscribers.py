"""Issue 11, subscriptions in the store (on SQLite and PostgreSQL): sign-up with double opt-in,
one-click unsubscribe and preferences, for addresses that signed up here and for those the
config lists; and who hears a notice once the store has had its say."""

from __future__ import annotations

import asyncio

from detector.config.models import Subscriber
from detector.store import Store
from detector.store.subscribers import CONFIRMED, PENDING, UNSUBSCRIBED, Choice, audience

NOW = 1_800_000_000.0
ANA = "ana@example.com"


async def test_sign_up_confirm_and_its_links(store: Store) -> None:
    assert await store.subscribers_revision() is None
    row, before = await store.request_subscription(
        Choice(ANA, "Ana", "pl", "Europe/Warsaw", ["api"]), NOW
    )
    assert before == "new" and row.state == PENDING and row.email == ANA
    assert (row.locale, row.timezone, row.components, row.name) == (
        "pl",
        "Europe/Warsaw",
        ["api"],
        "Ana",
    )
    first = await store.subscribers_revision()
    assert first is not None
    assert await store.subscriber_rows() == []  # a plain pending row changes nobody's notices

    # asked again before confirming: the new choice, a new nonce; the old link stops working
    again, before = await store.request_subscription(Choice(ANA, locale="fr"), NOW + 1)
    assert before == PENDING and again.id == row.id and again.nonce != row.nonce
    assert again.locale == "fr" and again.components is None and again.name == "Ana"
    assert await store.subscribers_revision() != first
    assert await store.confirm_subscription(row.id, row.nonce, NOW + 2) is None
    assert await store.confirm_subscription("nobody", again.nonce, NOW + 2) is None

    done = await store.confirm_subscription(again.id, again.nonce, NOW + 3)
    assert done is not None and done.state == CONFIRMED and done.confirmed_at == NOW + 3
    twice = await store.confirm_subscription(again.id, again.nonce, NOW + 4)
    assert twice is not None and twice.confirmed_at == NOW + 3  # following it again is fine
    assert [r.email for r in await store.subscriber_rows()] == [ANA]

    # a sign-up for a confirmed address changes nothing (a stranger could have sent it)
    same, before = await store.request_subscription(Choice(ANA, locale="id"), NOW + 5)
    assert before == CONFIRMED and same.locale == "fr" and same.nonce == again.nonce


async def test_unsubscribe_voids_confirm_links_and_a_new_request_keeps_it_silent(
    store: Store,
) -> None:
    row, _ = await store.request_subscription(Choice(ANA), NOW)
    await store.unsubscribe(ANA, NOW + 1)
    gone = await store.subscriber(ANA)
    assert gone is not None and gone.state == UNSUBSCRIBED and gone.silenced
    assert await store.confirm_subscription(row.id, row.nonce, NOW + 2) is None
    await store.unsubscribe(ANA, NOW + 3)  # again: nothing changes
    again = await store.subscriber(ANA)
    assert again is not None and again.unsubscribed_at == NOW + 1

    # anyone may ask for it again; until the new link is followed it stays silent
    asked, before = await store.request_subscription(Choice(ANA, locale="ar"), NOW + 4)
    assert before == UNSUBSCRIBED and asked.state == PENDING and asked.silenced
    assert [r.email for r in await store.subscriber_rows()] == [ANA]
    back = await store.confirm_subscription(asked.id, asked.nonce, NOW + 5)
    assert back is not None and back.state == CONFIRMED and not back.silenced


async def test_a_config_subscriber_unsubscribes_and_chooses(store: Store) -> None:
    """No row until its owner acts; then the row says what they chose."""
    await store.unsubscribe("ops@globex.example", NOW)
    row = await store.subscriber("ops@globex.example")
    assert row is not None and row.state == UNSUBSCRIBED and row.unsubscribed_at == NOW

    saved = await store.save_preferences(
        Choice("it@initech.example", "Initech", "id", "Asia/Jakarta", ["web"]), NOW + 1
    )
    assert saved.state == CONFIRMED and saved.confirmed_at == NOW + 1
    assert (saved.locale, saved.timezone, saved.components) == ("id", "Asia/Jakarta", ["web"])
    # saving from an unsubscribed state subscribes again (the link proves the address is theirs)
    back = await store.save_preferences(Choice("ops@globex.example", locale="fr"), NOW + 2)
    assert back.state == CONFIRMED and back.locale == "fr" and back.unsubscribed_at == NOW
    changed = await store.save_preferences(Choice("it@initech.example", locale="en"), NOW + 3)
    assert changed.confirmed_at == NOW + 1 and changed.components is None
    assert changed.name == "Initech"


async def test_one_row_per_address_when_requests_race(store: Store) -> None:
    results = await asyncio.gather(
        *(store.request_subscription(Choice(ANA, locale="en"), NOW) for _ in range(5))
    )
    assert len({row.id for row, _ in results}) == 1
    assert sorted(before for _, before in results) == ["new"] + [PENDING] * 4


async def test_the_link_key_is_made_once_per_store(storage_url: str, store: Store) -> None:
    key = await store.subscription_key()
    assert len(key) == 32 and await store.subscription_key() == key
    other = Store(storage_url)  # another instance of the same store
    try:
        await other.open()
        assert await other.subscription_key() == key
    finally:
        await other.close()


def test_who_hears_a_notice() -> None:
    from detector.store.subscribers import SubscriberRow

    def row(email: str, state: str, **over: object) -> SubscriberRow:
        values: dict[str, object] = {
            "id": email,
            "email": email,
            "name": None,
            "locale": None,
            "timezone": None,
            "components": None,
            "state": state,
            "nonce": "n",
            "created_at": NOW,
            "updated_at": NOW,
            **over,
        }
        return SubscriberRow(**values)  # type: ignore[arg-type]

    seed = [
        Subscriber(name="Globex", email="Ops@Globex.example", phone="+33155550111", locale="fr"),
        Subscriber(name="Initech", email="it@initech.example", components=["api"]),
        Subscriber(name="Hooli", email="hooli@hooli.example"),
        Subscriber(name="Umbrella", email="u@umbrella.example", locale="pl"),
        Subscriber(name="SMS only", phone="+48225550100"),
    ]
    rows = [
        row("ops@globex.example", UNSUBSCRIBED, unsubscribed_at=NOW),
        row("it@initech.example", CONFIRMED, locale="id", components=["web"]),
        row("u@umbrella.example", PENDING),  # someone asked: the config listing stands
        row("new@acme.example", CONFIRMED, name="New", timezone="Asia/Jakarta"),
        row("later@acme.example", CONFIRMED, created_at=NOW + 1),
        row("waiting@acme.example", PENDING),
        row("gone@acme.example", UNSUBSCRIBED),
        row("hooli@hooli.example", PENDING, unsubscribed_at=NOW),  # asked again: still silent
    ]
    got = audience(seed, rows)
    assert [(p.name, p.email, p.phone) for p in got] == [
        ("Globex", None, "+33155550111"),  # e-mail off; SMS has its own way out
        ("Initech", "it@initech.example", None),
        ("Umbrella", "u@umbrella.example", None),
        ("SMS only", None, "+48225550100"),
        ("New", "new@acme.example", None),
        ("later@acme.example", "later@acme.example", None),
    ]
    assert (got[1].locale, got[1].components) == ("id", ["web"])
    assert got[2].locale == "pl"
    assert got[4].timezone == "Asia/Jakarta" and got[4].components is None
    assert audience(seed, []) == seed
