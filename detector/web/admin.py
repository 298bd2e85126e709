"""Admin API (CONTRACT §4): people's actions on incidents and maintenance, behind the bearer
`admin_token`.

No token configured → every admin route answers 404 (the API is off, not hidden behind a guess).
Bodies are validated by the pydantic models below (which also give the OpenAPI schemas); every
error is `{"error": "<field>: <what is wrong>"}`. The engine does the work and publishes.

Validated at the door, before the engine sees anything (so a refused request changes nothing):
- the body: UTF-8 JSON, one object, at most MAX_BODY bytes and MAX_DEPTH levels of nesting,
  no unknown fields, every value of the documented type;
- operator text (titles, messages, cause, actions): control characters removed
  (`detector.text`), then at most MAX_TITLE / MAX_TEXT characters; a message, cause or
  actions is one text (in `service.locale`) or an object of language → text (`{"en": ...,
  "fr": ...}`, at most MAX_LANGUAGES, `service.locale` among them, as for a component's
  impact: the notice of record is in that language), and the answer's `missing_languages` names the
  languages of the incident's subscribers that it does not reach (they get no other
  language's words: the notice says the text is not available in theirs);
- components: known ids, each named once, at most MAX_COMPONENTS;
- maintenance dates: ISO 8601 with a time zone; `starts_at` at most MAINTENANCE_PAST ago,
  `ends_at` after `starts_at`, in the future, at most MAINTENANCE_AHEAD from now and at most
  MAINTENANCE_LONGEST after `starts_at`.

Maintenance is listed (upcoming and current windows, from the store every instance shares) and
cancelled here too: before its start a cancelled window tells subscribers it is called off,
once under way it ends now. An unknown window is a 404, one already over a 409.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal, NoReturn, TypeVar

from aiohttp import web
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from detector import logs
from detector.config.languages import missing_languages
from detector.incidents.payload import iso
from detector.store import IncidentRow, MaintenanceRow, NoticeRow
from detector.text import Localized, clean_line, clean_operator_text, localized_fault, text_in
from detector.web.api import notice_json, with_updates
from detector.web.app import SERVICES, Services

MAX_BODY = 64 * 1024  # bytes of JSON; the largest valid body is a fraction of this
MAX_DEPTH = 8  # levels of [ and { in a body; every valid body needs 2
MAX_TEXT = 5000  # characters in a message, cause or corrective actions
MAX_TITLE = 200  # characters in a title
MAX_LANGUAGES = 20  # languages of one text
MAX_COMPONENTS = 50  # components named in one request
MAX_ID = 100  # characters in a component id
MAX_DATE = 64  # characters in a date string
MAINTENANCE_PAST = 86400.0  # starts_at may be at most 1 day ago (recording work just begun)
MAINTENANCE_AHEAD = 365 * 86400.0  # ends_at at most 365 days from now
MAINTENANCE_LONGEST = 30 * 86400.0  # a window lasts at most 30 days
ISO_EXAMPLE = "e.g. 2026-11-23T22:00:00Z"


def _clean_title(value: object) -> object:
    return clean_line(value) if isinstance(value, str) else value


def _moment(value: object) -> object:
    """A date and time only as an ISO 8601 string (pydantic would also take numbers)."""
    if isinstance(value, str) and len(value) <= MAX_DATE:
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(f"must be an ISO 8601 date and time, {ISO_EXAMPLE}")


def _words(value: object) -> Localized:
    """A person's words for customers: one text or one per language, each cleaned, stripped,
    not empty and at most MAX_TEXT characters. A fault names the language at fault."""
    if isinstance(value, str):
        value = clean_operator_text(value).strip()
    elif isinstance(value, dict):
        if len(value) > MAX_LANGUAGES:
            raise PydanticCustomError(
                "localized", "must give at most {n} languages", {"n": MAX_LANGUAGES}
            )
        value = {
            k: clean_operator_text(v).strip() if isinstance(v, str) else v for k, v in value.items()
        }
    fault = localized_fault(value)
    if fault is not None:
        key, why = fault
        raise PydanticCustomError("localized", why, {"key": key} if key is not None else {})
    given = value.items() if isinstance(value, dict) else [(None, value)]
    too_long = next((k for k, t in given if isinstance(t, str) and len(t) > MAX_TEXT), 0)
    if too_long != 0:
        raise PydanticCustomError(
            "localized",
            "must be at most {n} characters",
            {"n": MAX_TEXT, **({"key": too_long} if too_long else {})},
        )
    assert isinstance(value, str | dict)
    return value


_ONE_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
Text = Annotated[
    Localized,
    BeforeValidator(_words),
    WithJsonSchema(
        {
            "anyOf": [
                _ONE_TEXT,
                {
                    "type": "object",
                    "additionalProperties": _ONE_TEXT,
                    "minProperties": 1,
                    "maxProperties": MAX_LANGUAGES,
                },
            ],
            "description": "one text, in service.locale, or one per language: "
            '{"en": "...", "fr": "..."}',
        }
    ),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE),
    BeforeValidator(_clean_title),
]
ComponentId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]
Components = Annotated[list[ComponentId], Field(min_length=1, max_length=MAX_COMPONENTS)]
Moment = Annotated[datetime, BeforeValidator(_moment)]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logs.get("detector.admin")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpenIncident(Body):
    title: Title
    components: Components
    severity: Literal["degraded", "partial_outage", "major_outage"]
    message: Text | None = None


class Update(Body):
    message: Text
    status: Literal["investigating", "identified", "monitoring"] | None = None


class Cause(Body):
    cause: Text
    actions: Text | None = None


class Resolve(Body):
    message: Text | None = None


class Empty(Body):
    pass


B = TypeVar("B", bound=Body)


class Maintenance(Body):
    title: Title
    components: Components
    starts_at: Moment = Field(
        description=f"ISO 8601 with a time zone, {ISO_EXAMPLE}; at most 1 day in the past"
    )
    ends_at: Moment = Field(
        description="ISO 8601 with a time zone; after starts_at and now, "
        "within 365 days from now and 30 days of starts_at"
    )
    message: Text | None = None


BODIES: dict[str, type[Body]] = {
    "OpenIncident": OpenIncident,
    "Update": Update,
    "Cause": Cause,
    "Resolve": Resolve,
    "Maintenance": Maintenance,
}


def error(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers or None)


def token_ok(request: web.Request) -> bool | None:
    """None: admin API off; False: missing or wrong bearer token; True: the right one."""
    token = request.app[SERVICES].config.server.admin_token
    if token is None:
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


def admin(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        ok = token_ok(request)
        if ok is None:
            return error(404, "the admin API is off: set server.admin_token to enable it")
        if not ok:
            return error(
                401,
                "authorization: a valid bearer token is required",
                **{"WWW-Authenticate": 'Bearer realm="detector-admin"'},
            )
        return await handler(request)

    return guarded


def _bad(message: str) -> NoReturn:
    raise web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _name(part: int | str) -> str:
    """One step of a field path, as safe to echo as the text it came from (and short)."""
    text = clean_line(str(part))
    return text if len(text) <= 64 else text[:63] + "…"


def _field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + _name(part)
    return out or "body"


def _problem(err: Any) -> str:
    kind, ctx = err["type"], err.get("ctx", {})
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "literal_error":
        return "must be one of " + str(ctx.get("expected", "")).replace("'", "").replace(
            " or ", ", "
        )
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        return "must name at least one"
    if kind == "too_long":
        return f"must name at most {ctx.get('max_length')}"
    if kind == "string_type":
        return "must be text"
    if kind == "list_type":
        return "must be a list"
    if kind.startswith("datetime"):
        return f"must be an ISO 8601 date and time, {ISO_EXAMPLE}"
    return str(err["msg"]).removeprefix("Value error, ")


# A JSON string literal, then everything that is not a bracket: what is left shows the nesting.
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON `text` nests arrays and objects more than `limit` levels deep.

    Checked before parsing: the parser recurses once per level, so 100,000 `[` would exhaust
    the interpreter's stack instead of giving an answer.
    """
    depth = 0
    for ch in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if ch in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _json(raw: bytes) -> object:
    """The body as JSON, or a 400 saying why not."""
    if len(raw) > MAX_BODY:
        _bad(f"body: must be at most {MAX_BODY} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        _bad("body: not valid JSON (UTF-8 expected)")
    if not text.strip():
        return {}
    if too_deep(text):
        _bad(f"body: nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_constant)
    except (ValueError, RecursionError):
        _bad("body: not valid JSON")


async def parse(request: web.Request, model: type[B]) -> B:
    """The request body as `model`, or a 400 naming the first field at fault."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        _bad(f"body: must be at most {MAX_BODY} bytes")
    data = _json(raw)
    if not isinstance(data, dict):
        _bad("body: must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        key = first.get("ctx", {}).get("key") if first["type"] == "localized" else None
        _bad(f"{_field(loc + ((key,) if key else ()))}: {_problem(first)}")


def _components(s: Services, ids: list[str]) -> None:
    known = [c.id for c in s.config.components]
    for i, cid in enumerate(ids):
        if cid not in known:
            _bad(f"components[{i}]: unknown component {_name(cid)!r} (known: {', '.join(known)})")
        if cid in ids[:i]:
            _bad(f"components[{i}]: {cid!r} is named twice")


def _epoch(field: str, value: datetime) -> float:
    if value.tzinfo is None or value.utcoffset() is None:
        _bad(f"{field}: needs a time zone, {ISO_EXAMPLE}")
    try:
        return value.timestamp()
    except (OverflowError, ValueError, OSError):
        _bad(f"{field}: out of range")


def _days(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:g} day" + ("" if days == 1 else "s")


def maintenance_window(starts: float, ends: float, now: float) -> None:
    """A 400 naming the field unless the window is sane (see the module's docstring)."""
    if ends <= starts:
        _bad("ends_at: must be after starts_at")
    if ends <= now:
        _bad("ends_at: must be in the future")
    if starts < now - MAINTENANCE_PAST:
        _bad(f"starts_at: must be at most {_days(MAINTENANCE_PAST)} in the past")
    if ends > now + MAINTENANCE_AHEAD:
        _bad(f"ends_at: must be within {_days(MAINTENANCE_AHEAD)} from now")
    if ends - starts > MAINTENANCE_LONGEST:
        _bad(f"ends_at: must be at most {_days(MAINTENANCE_LONGEST)} after starts_at")


async def _incident(s: Services, incident_id: str) -> IncidentRow:
    inc = await s.store.incident(incident_id)
    if inc is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no incident {incident_id!r}"}),
            content_type="application/json",
        )
    return inc


def _conflict(message: str) -> web.HTTPConflict:
    return web.HTTPConflict(text=json.dumps({"error": message}), content_type="application/json")


async def _live(s: Services, incident_id: str, *, held_ok: bool = False) -> IncidentRow:
    """An open incident, or 404 (no such) / 409 (resolved, or its first notice still held)."""
    inc = await _incident(s, incident_id)
    if inc.resolved_at is not None:
        raise _conflict(f"incident {incident_id!r} is already resolved")
    if inc.held_until is not None and not held_ok:
        raise _conflict(
            f"incident {incident_id!r} has not been announced yet: publish or veto "
            "its held notice first"
        )
    return inc


def in_source(s: Services, **texts: Localized | None) -> None:
    """A 400 unless each text given per language includes the service's language: the
    notice of record (the status page's default, webhooks, the post-mortem) is in it, as a
    component's impact must be (CONTRACT §3)."""
    source = s.config.service.locale
    for name, text in texts.items():
        if isinstance(text, dict) and text_in(text, source, source) is None:
            _bad(f"{name}: needs the text in the service's language {source!r} too")


def missing(s: Services, component_ids: list[str], *texts: Localized | None) -> list[str]:
    """The languages of the subscribers of `component_ids` (and the service's) that one of
    `texts` is not given in: those readers get the notice without these words."""
    people = s.engine.subscribers
    found: set[str] = set()
    for text in texts:
        found.update(missing_languages(text, s.config, people, component_ids))
    return sorted(found)


async def _result(
    s: Services,
    incident_id: str,
    notice: NoticeRow | None,
    status: int = 200,
    *texts: Localized | None,
) -> web.Response:
    inc = await _incident(s, incident_id)
    body = {
        "incident": (await with_updates(s, [inc]))[0],
        "notice": notice_json(notice) if notice else None,
        "missing_languages": missing(s, inc.component_ids, *texts),
    }
    return web.json_response(body, status=status)


async def _act(s: Services, incident_id: str, action: Awaitable[Any]) -> Any:
    """Run an engine action; its KeyError/ValueError mean the incident's state forbids it."""
    try:
        return await action
    except KeyError:
        raise _conflict(f"incident {incident_id!r} is not open") from None
    except ValueError as e:
        raise _conflict(str(e)) from None


@admin
async def open_incident(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    body = await parse(request, OpenIncident)
    _components(s, body.components)
    in_source(s, message=body.message)
    try:
        inc = await s.engine.open_manual(body.title, body.components, body.severity, body.message)
    except ValueError as e:
        return error(400, str(e))
    log.info("admin opened an incident", incident_id=inc.id)
    notices = (await s.store.notices([inc.id]))[inc.id]
    resp = await _result(s, inc.id, notices[0] if notices else None, 201, body.message)
    resp.headers["Location"] = f"/api/v1/incidents/{inc.id}"
    return resp


@admin
async def post_update(request: web.Request) -> web.Response:
    s, iid = request.app[SERVICES], request.match_info["id"]
    await _live(s, iid)
    body = await parse(request, Update)
    in_source(s, message=body.message)
    notice = await _act(s, iid, s.engine.human_update(iid, body.message, body.status))
    log.info("admin posted an update", incident_id=iid, status=body.status)
    return await _result(s, iid, notice, 200, body.message)


@admin
async def set_cause(request: web.Request) -> web.Response:
    s, iid = request.app[SERVICES], request.match_info["id"]
    inc = await _incident(s, iid)
    if inc.held_until is not None and inc.resolved_at is None:
        await _live(s, iid)  # raises the 409 that says publish or veto first
    body = await parse(request, Cause)
    in_source(s, cause=body.cause, actions=body.actions)
    before = inc.sequence
    after = await _act(s, iid, s.engine.set_cause(iid, body.cause, body.actions))
    log.info("admin set the cause", incident_id=iid)
    notice = None
    if after.sequence > before:
        notice = next(
            (n for n in (await s.store.notices([iid]))[iid] if n.sequence == after.sequence), None
        )
    return await _result(s, iid, notice, 200, body.cause, body.actions)


@admin
async def resolve(request: web.Request) -> web.Response:
    s, iid = request.app[SERVICES], request.match_info["id"]
    await _live(s, iid)
    body = await parse(request, Resolve)
    in_source(s, message=body.message)
    notice = await _act(s, iid, s.engine.resolve(iid, body.message))
    log.info("admin resolved an incident", incident_id=iid)
    return await _result(s, iid, notice, 200, body.message)


@admin
async def publish(request: web.Request) -> web.Response:
    s, iid = request.app[SERVICES], request.match_info["id"]
    await _live(s, iid, held_ok=True)
    await parse(request, Empty)
    notice = await _act(s, iid, s.engine.publish_held(iid))
    log.info("admin published a held notice", incident_id=iid)
    return await _result(s, iid, notice)


@admin
async def veto(request: web.Request) -> web.Response:
    s, iid = request.app[SERVICES], request.match_info["id"]
    await _live(s, iid, held_ok=True)
    await parse(request, Empty)
    await _act(s, iid, s.engine.veto(iid))
    log.warning("admin vetoed a held notice", incident_id=iid)
    return await _result(s, iid, None)


@admin
async def publish_postmortem(request: web.Request) -> web.Response:
    s, iid = request.app[SERVICES], request.match_info["id"]
    inc = await _incident(s, iid)
    if inc.postmortem_published_at is not None:
        raise _conflict(
            f"the post-mortem was already published at {iso(inc.postmortem_published_at)}"
        )
    await parse(request, Empty)
    notice = await _act(s, iid, s.engine.publish_postmortem(iid))
    log.info("admin published a post-mortem", incident_id=iid)
    return await _result(s, iid, notice)


def maintenance_json(m: MaintenanceRow, now: float, state: str | None = None) -> dict[str, Any]:
    """A window as the API shows it; `state` from the clock unless the caller knows better
    (a cancelled window looks, by its times alone, like one that just ended)."""
    if state is None:
        state = (
            "scheduled" if now < m.starts_at else "in_progress" if now < m.ends_at else "completed"
        )
    return {
        "id": m.id,
        "title": m.title,
        "components": m.component_ids,
        "message": m.message,
        "starts_at": iso(m.starts_at),
        "ends_at": iso(m.ends_at),
        "state": state,
    }


async def current_maintenance(s: Services, now: float) -> list[MaintenanceRow]:
    """Upcoming and current windows, soonest first: read from the store, which every instance
    shares, rather than from this instance's memory."""
    rows = await s.store.maintenance_rows(ending_after=now)
    return [m for m in rows if m.ends_at > now]


@admin
async def maintenance(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    body = await parse(request, Maintenance)
    _components(s, body.components)
    in_source(s, message=body.message)
    starts, ends = _epoch("starts_at", body.starts_at), _epoch("ends_at", body.ends_at)
    maintenance_window(starts, ends, s.engine.clock.now())
    try:
        m = await s.engine.schedule_maintenance(
            body.title, body.components, starts, ends, body.message
        )
    except ValueError as e:
        return error(400, str(e))
    log.info("admin scheduled maintenance", maintenance_id=m.id)
    return web.json_response(
        {
            "maintenance": maintenance_json(m, s.engine.clock.now()),
            "missing_languages": missing(s, body.components, body.message),
        },
        status=201,
    )


@admin
async def list_maintenance(request: web.Request) -> web.Response:
    s = request.app[SERVICES]
    now = s.engine.clock.now()
    rows = await current_maintenance(s, now)
    return web.json_response({"maintenance": [maintenance_json(m, now) for m in rows]})


@admin
async def cancel_maintenance(request: web.Request) -> web.Response:
    s, mid = request.app[SERVICES], request.match_info["id"]
    await parse(request, Empty)
    try:
        m = await s.engine.cancel_maintenance(mid)
    except KeyError:
        # the engine forgets a window once it is over; the store still knows it was there
        if any(row.id == mid for row in await s.store.maintenance_rows()):
            raise _conflict(f"maintenance {_name(mid)!r} is already over") from None
        raise web.HTTPNotFound(
            text=json.dumps({"error": f"no maintenance {_name(mid)!r}"}),
            content_type="application/json",
        ) from None
    except ValueError:
        raise _conflict(f"maintenance {_name(mid)!r} is already over") from None
    notice = max((await s.store.notices([m.id]))[m.id], key=lambda n: n.sequence, default=None)
    cancelled = notice is not None and notice.kind == "maintenance_cancelled"
    log.info("admin cancelled maintenance", maintenance_id=m.id, before_start=cancelled)
    return web.json_response(
        {
            "maintenance": maintenance_json(
                m, s.engine.clock.now(), "cancelled" if cancelled else "completed"
            ),
            "notice": notice_json(notice) if notice else None,
        }
    )


def setup(app: web.Application) -> None:
    base = "/api/v1/admin"
    app.router.add_post(f"{base}/incidents", open_incident)
    app.router.add_post(f"{base}/incidents/{{id}}/updates", post_update)
    app.router.add_post(f"{base}/incidents/{{id}}/cause", set_cause)
    app.router.add_post(f"{base}/incidents/{{id}}/resolve", resolve)
    app.router.add_post(f"{base}/incidents/{{id}}/publish", publish)
    app.router.add_post(f"{base}/incidents/{{id}}/veto", veto)
    app.router.add_post(f"{base}/incidents/{{id}}/postmortem", publish_postmortem)
    app.router.add_post(f"{base}/maintenance", maintenance)
    app.router.add_get(f"{base}/maintenance", list_maintenance)
    app.router.add_post(f"{base}/maintenance/{{id}}/cancel", cancel_maintenance)
