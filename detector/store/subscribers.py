"""Subscribers who chose for themselves, and who hears a notice. Mixed into `Store`.

A row is an e-mail address (lower-cased, one row each) and what its owner chose: `pending`
(asked through `POST /api/v1/subscribe` or the status page's form, not yet confirmed through the
link mailed to it), `confirmed`, or `unsubscribed` (through the one-click link). Config and CSV
subscribers are not copied here; a row appears for one of them only once its owner acts through
a link (unsubscribes, or saves preferences), and then the row wins over the config.

`audience(seed, rows)` is who hears a notice: the config's subscribers (the seed), less the
addresses that unsubscribed, with the preferences their owners saved, plus every confirmed
address the config does not list. A pending request for an address that had unsubscribed keeps
it unsubscribed until the link is followed: nobody is put back on a list by someone else.

Every write also sets `meta.subscribers_revision` to a new random value, in the same
transaction: an instance that holds the list in memory (the leader's engine) reads that one
value to know whether to read the table again.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from sqlalchemy import select, update

from detector import logs
from detector.config.models import Subscriber
from detector.store import schema as s

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

PENDING, CONFIRMED, UNSUBSCRIBED = "pending", "confirmed", "unsubscribed"
KEY = "subscription_key"  # meta: the random key of subscription links (hex)
REVISION = "subscribers_revision"  # meta: changes with every write to `subscribers`


@dataclass(frozen=True, slots=True)
class SubscriberRow:
    id: str
    email: str
    name: str | None
    locale: str | None
    timezone: str | None
    components: list[str] | None
    state: str
    nonce: str
    created_at: float
    updated_at: float
    confirmed_at: float | None = None
    unsubscribed_at: float | None = None

    @property
    def silenced(self) -> bool:
        """Told nothing: unsubscribed, or asked again (by anyone) and not yet confirmed."""
        return self.state == UNSUBSCRIBED or (
            self.state == PENDING and self.unsubscribed_at is not None
        )

    @classmethod
    def from_db(cls, row: Row[Any]) -> SubscriberRow:
        d = dict(row._mapping)
        d["components"] = None if d["components"] is None else json.loads(d["components"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Choice:
    """What a person asks for: the rest of a row comes from the store."""

    email: str
    name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    components: list[str] | None = None

    def values(self) -> dict[str, Any]:
        return {
            "locale": self.locale,
            "timezone": self.timezone,
            "components": None if self.components is None else json.dumps(self.components),
        }


def _token() -> str:
    return secrets.token_hex(16)


def audience(seed: Sequence[Subscriber], rows: Sequence[SubscriberRow]) -> list[Subscriber]:
    """Who hears a notice: `seed` (the config's and CSV's subscribers, duplicates merged) as
    the store's rows amend it, then each confirmed address the seed lacks, oldest first.

    An unsubscribed address loses its e-mail (a listed phone number is still told by SMS, which
    has its own way out); a confirmed one takes its owner's language, time zone and components.
    """
    by_email = {r.email: r for r in rows}
    listed: set[str] = set()
    out: list[Subscriber] = []
    for person in seed:
        email = person.email.strip().lower() if person.email else None
        if email:
            listed.add(email)
        row = by_email.get(email) if email else None
        if row is None or (row.state == PENDING and not row.silenced):
            out.append(person)
        elif row.silenced:
            if person.phone:
                out.append(person.model_copy(update={"email": None}))
        else:
            chosen = {
                "locale": row.locale or person.locale,
                "timezone": row.timezone or person.timezone,
                "components": row.components,
            }
            out.append(person.model_copy(update=chosen))
    for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
        if row.state != CONFIRMED or row.email in listed:
            continue
        try:
            out.append(
                Subscriber(
                    name=row.name or row.email,
                    email=row.email,
                    locale=row.locale,
                    timezone=row.timezone,
                    components=row.components,
                )
            )
        except ValidationError:  # a row edited by hand into something no subscriber can be
            logs.get("detector.store").warning("subscriber row skipped: not valid", id=row.id)
    return out


class SubscriberQueries:
    engine: AsyncEngine
    _subscription_key: bytes | None = None

    if TYPE_CHECKING:

        def write(self, *, fenced: bool = True) -> AbstractAsyncContextManager[AsyncConnection]: ...

        def _insert(self, table: Any) -> Any: ...

    async def _all(self, q: Any) -> Sequence[Row[Any]]:
        raise NotImplementedError

    # --- the key of subscription links ------------------------------------------------------

    async def subscription_key(self) -> bytes:
        """A random 256-bit key made once per store and kept in `meta`: every instance sharing
        the store signs and checks subscription links alike. Read once per process."""
        if self._subscription_key is not None:
            return self._subscription_key
        t = s.meta
        async with self.write(fenced=False) as conn:
            made = self._insert(t).values(key=KEY, value=secrets.token_hex(32))
            await conn.execute(made.on_conflict_do_nothing(index_elements=["key"]))
            value = (await conn.execute(select(t.c.value).where(t.c.key == KEY))).scalar_one()
        self._subscription_key = bytes.fromhex(value)
        return self._subscription_key

    # --- writes: from any instance (never fenced), each one transaction ---------------------

    async def _claim(
        self, conn: AsyncConnection, choice: Choice, now: float, **values: Any
    ) -> tuple[SubscriberRow, bool]:
        """The address's row, locked, inserted with `values` if it had none: (row, inserted).
        Two requests for one new address insert one row; the other finds it."""
        fresh = _token()
        row = {
            "id": fresh,
            "email": choice.email,
            "name": choice.name,
            **choice.values(),
            "created_at": now,
            "updated_at": now,
            **values,
        }
        insert = self._insert(s.subscribers).values(**row)
        await conn.execute(insert.on_conflict_do_nothing(index_elements=["email"]))
        got = await _one(conn, s.subscribers.c.email == choice.email)
        return got, got.id == fresh

    async def request_subscription(self, choice: Choice, now: float) -> tuple[SubscriberRow, str]:
        """A sign-up request: a new address becomes `pending`; a pending or unsubscribed one
        takes the new choice and a new nonce (older confirm links stop working); a confirmed
        one is left as it is. Returns the row and what the address was before ("new" if
        unknown)."""
        t = s.subscribers
        nonce = _token()
        async with self.write(fenced=False) as conn:
            got, new = await self._claim(conn, choice, now, state=PENDING, nonce=nonce)
            before = "new" if new else got.state
            if before in (PENDING, UNSUBSCRIBED):
                values = {**choice.values(), "state": PENDING, "nonce": nonce, "updated_at": now}
                if choice.name:
                    values["name"] = choice.name
                await conn.execute(update(t).where(t.c.id == got.id).values(**values))
                got = await _one(conn, t.c.id == got.id)
            await _bump(self, conn)
        return got, before

    async def confirm_subscription(
        self, subscriber_id: str, nonce: str, now: float
    ) -> SubscriberRow | None:
        """The link of a sign-up was followed: `pending` → `confirmed`. Following it again is
        fine; a link whose nonce was replaced (a newer request, an unsubscribe) is None."""
        t = s.subscribers
        async with self.write(fenced=False) as conn:
            mine = (t.c.id == subscriber_id) & (t.c.nonce == nonce)
            await conn.execute(
                update(t)
                .where(mine & (t.c.state == PENDING))
                .values(state=CONFIRMED, confirmed_at=now, updated_at=now)
            )
            got = await _maybe(conn, mine)
            await _bump(self, conn)
        return got if got is not None and got.state == CONFIRMED else None

    async def unsubscribe(self, email: str, now: float) -> None:
        """No more e-mail to this address, whether it signed up here or the config lists it;
        any confirm link still out there stops working. Doing it again changes nothing."""
        t = s.subscribers
        async with self.write(fenced=False) as conn:
            row = {
                "id": _token(),
                "email": email,
                "state": UNSUBSCRIBED,
                "nonce": _token(),
                "created_at": now,
                "updated_at": now,
                "unsubscribed_at": now,
            }
            insert = self._insert(t).values(**row)
            await conn.execute(insert.on_conflict_do_nothing(index_elements=["email"]))
            await conn.execute(
                update(t)
                .where((t.c.email == email) & (t.c.state != UNSUBSCRIBED))
                .values(state=UNSUBSCRIBED, unsubscribed_at=now, updated_at=now, nonce=_token())
            )
            await _bump(self, conn)

    async def save_preferences(self, choice: Choice, now: float) -> SubscriberRow:
        """Its owner's choice of components, language and time zone (from a signed link, so
        the address is theirs): confirmed with these, a config subscriber included."""
        t = s.subscribers
        async with self.write(fenced=False) as conn:
            got, _ = await self._claim(
                conn, choice, now, state=CONFIRMED, nonce=_token(), confirmed_at=now
            )
            await conn.execute(
                update(t)
                .where(t.c.id == got.id)
                .values(
                    **choice.values(),
                    state=CONFIRMED,
                    confirmed_at=got.confirmed_at if got.state == CONFIRMED else now,
                    updated_at=now,
                )
            )
            got = await _one(conn, t.c.id == got.id)
            await _bump(self, conn)
        return got

    # --- reads ------------------------------------------------------------------------------

    async def subscriber(self, email: str) -> SubscriberRow | None:
        rows = await self._all(select(s.subscribers).where(s.subscribers.c.email == email))
        return SubscriberRow.from_db(rows[0]) if rows else None

    async def subscriber_rows(self) -> list[SubscriberRow]:
        """Every row but plain pending ones (they change nobody's notices)."""
        t = s.subscribers
        q = select(t).where((t.c.state != PENDING) | t.c.unsubscribed_at.is_not(None))
        return [SubscriberRow.from_db(r) for r in await self._all(q.order_by(t.c.created_at))]

    async def subscribers_revision(self) -> str | None:
        """Changes with every write to the subscribers: cheap to read often."""
        rows = await self._all(select(s.meta.c.value).where(s.meta.c.key == REVISION))
        return str(rows[0][0]) if rows else None


async def _maybe(conn: AsyncConnection, where: Any) -> SubscriberRow | None:
    row = (await conn.execute(select(s.subscribers).where(where))).first()
    return None if row is None else SubscriberRow.from_db(row)


async def _one(conn: AsyncConnection, where: Any) -> SubscriberRow:
    # FOR UPDATE on PostgreSQL (SQLite has none, and its write lock is already held): a row
    # two requests for one address race for is changed by one, then the other
    row = (await conn.execute(select(s.subscribers).where(where).with_for_update())).one()
    return SubscriberRow.from_db(row)


async def _bump(queries: SubscriberQueries, conn: AsyncConnection) -> None:
    stmt = queries._insert(s.meta).values(key=REVISION, value=_token())
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    )
