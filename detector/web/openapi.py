"""The OpenAPI 3.1 document for the JSON API (public and admin).

Request schemas come from the admin API's pydantic models, so the document cannot drift from
what the server accepts; response schemas are written here and tests check real responses
against them.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from detector import __version__ as version
from detector.i18n import LOCALES
from detector.web import admin

TIME = {"type": "string", "format": "date-time"}
MAYBE_TIME = {"type": ["string", "null"], "format": "date-time"}
MAYBE_TEXT = {"type": ["string", "null"]}
# operator text as given: one text (in service.locale) or one per language
MAYBE_WORDS = {
    "oneOf": [
        {"type": ["string", "null"]},
        {"type": "object", "additionalProperties": {"type": "string"}},
    ],
    "description": 'as a person gave it: one text, or one per language {"en": ..., "fr": ...}',
}
MISSING = {
    "type": "array",
    "items": {"type": "string"},
    "description": "languages of the subscribers concerned (and the service's) that the text "
    "given is not in: they are told it is not available in their language",
}
SEVERITY = {"type": "string", "enum": ["operational", "degraded", "partial_outage", "major_outage"]}
STATUS = {"type": "string", "enum": ["investigating", "identified", "monitoring", "resolved"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(
    props: dict[str, Any], *, closed: bool = False, optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "object",
        "properties": props,
        "required": [k for k in props if k not in optional],
    }
    if closed:
        out["additionalProperties"] = False
    return out


SCHEMAS: dict[str, Any] = {
    "AlertmanagerResult": _obj(
        {
            "status": {"type": "string"},
            "alerts": {"type": "integer", "minimum": 0},
            "components": {"type": "array", "items": {"type": "string"}},
        },
        closed=True,
    ),
    "Error": _obj(
        {"error": {"type": "string", "description": "'<field>: <what is wrong>'"}}, closed=True
    ),
    "Subscribe": _obj(
        {
            "email": {"type": "string", "format": "email", "maxLength": 254},
            "components": {
                "type": ["array", "null"],
                "items": {"type": "string"},
                "description": "component ids; absent, null, empty or every one: all, new ones too",
            },
            "locale": {"type": ["string", "null"], "enum": [*LOCALES, None]},
            "timezone": {
                "type": ["string", "null"],
                "description": "an IANA time zone such as Europe/Warsaw; else service.timezone",
            },
            "name": {"type": ["string", "null"], "maxLength": 100},
        },
        closed=True,
        optional=("components", "locale", "timezone", "name"),
    ),
    "SubscribeAccepted": _obj(
        {"status": {"const": "accepted"}, "message": {"type": "string"}}, closed=True
    ),
    "Notice": _obj(
        {
            "id": {"type": "string", "description": "the notice_id: '<incident id>.<sequence>'"},
            "sequence": {"type": "integer", "minimum": 1},
            "event": {"type": "string"},
            "kind": {"type": "string"},
            "status": {"type": "string"},
            "severity": SEVERITY,
            "subject": {"type": "string"},
            "text": {"type": "string"},
            "published_at": TIME,
            "next_update_at": MAYBE_TIME,
            "recipients": {"type": "integer", "minimum": 0},
        }
    ),
    "Incident": _obj(
        {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "status": STATUS,
            "severity": SEVERITY,
            "components": {"type": "array", "items": {"type": "string"}},
            "vendor": MAYBE_TEXT,
            "manual": {"type": "boolean"},
            "started_at": {**TIME, "description": "the first failed check"},
            "detected_at": {**TIME, "description": "the confirmation"},
            "recovered_at": MAYBE_TIME,
            "resolved_at": MAYBE_TIME,
            "next_update_at": MAYBE_TIME,
            "cause": MAYBE_WORDS,
            "report_by": MAYBE_TIME,
            "held_until": MAYBE_TIME,
            "vetoed": {"type": "boolean"},
            "postmortem_published_at": MAYBE_TIME,
            "postmortem_url": {
                "type": "string",
                "format": "uri-reference",
                "description": "the published post-mortem, a page in the reader's language; "
                "present only once published",
            },
        },
        optional=("postmortem_url",),
    ),
    "IncidentWithUpdates": {
        "allOf": [_ref("Incident"), _obj({"updates": {"type": "array", "items": _ref("Notice")}})]
    },
    "ComponentStatus": _obj(
        {"id": {"type": "string"}, "name": {"type": "string"}, "status": SEVERITY}
    ),
    "Status": _obj(
        {
            "status": SEVERITY,
            "components": {"type": "array", "items": _ref("ComponentStatus")},
            "incidents": {"type": "array", "items": _ref("IncidentWithUpdates")},
        }
    ),
    "IncidentList": _obj({"incidents": {"type": "array", "items": _ref("IncidentWithUpdates")}}),
    "Banner": {
        "description": (
            "{} when all is well; else the worst open incident, or the maintenance in progress "
            "or starting within 3 days"
        ),
        "oneOf": [
            {"type": "object", "maxProperties": 0},
            _obj(
                {
                    "id": {"type": "string", "description": "incident id, or maintenance-<id>"},
                    "title": {"type": "string"},
                    "status": {"type": "string", "enum": [*STATUS["enum"], "maintenance"]},
                    "status_label": {"type": "string"},
                    "severity": {"type": "string", "enum": [*SEVERITY["enum"], "maintenance"]},
                    "severity_label": {"type": "string"},
                    "subject": {
                        "type": "string",
                        "description": "the latest update's headline, localized",
                    },
                    "next_update": {
                        "type": ["string", "null"],
                        "description": "when the next update comes, localized",
                    },
                    "maintenance": {
                        "type": ["string", "null"],
                        "description": "planned maintenance in progress or soon, localized",
                    },
                    "published_at": TIME,
                    "url": {"type": "string", "format": "uri"},
                    "lang": {"type": "string"},
                    "dir": {"type": "string", "enum": ["ltr", "rtl"]},
                    "more": {"type": "string", "description": "link text, localized"},
                    "dismiss": {"type": "string", "description": "close button label, localized"},
                },
                closed=True,
            ),
        ],
    },
    "AdminResult": _obj(
        {
            "incident": _ref("IncidentWithUpdates"),
            "notice": {
                "oneOf": [_ref("Notice"), {"type": "null"}],
                "description": "the notice this action published, if any",
            },
            "missing_languages": MISSING,
        },
        closed=True,
    ),
    "MaintenanceWindow": _obj(
        {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "components": {"type": "array", "items": {"type": "string"}},
            "message": MAYBE_WORDS,
            "starts_at": TIME,
            "ends_at": TIME,
            "state": {
                "type": "string",
                "enum": ["scheduled", "in_progress", "completed", "cancelled"],
                "description": "cancelled: called off before it began (its times then both "
                "say when); completed: over, or ended early",
            },
        },
        closed=True,
    ),
    "MaintenanceResult": _obj(
        {"maintenance": _ref("MaintenanceWindow"), "missing_languages": MISSING}, closed=True
    ),
    "MaintenanceList": _obj(
        {
            "maintenance": {
                "type": "array",
                "items": _ref("MaintenanceWindow"),
                "description": "upcoming and current windows, soonest first",
            }
        },
        closed=True,
    ),
    "MaintenanceCancelled": _obj(
        {
            "maintenance": _ref("MaintenanceWindow"),
            "notice": {
                "oneOf": [_ref("Notice"), {"type": "null"}],
                "description": "maintenance_cancelled before the start, else "
                "maintenance_ended (webhook event maintenance.ended)",
            },
        },
        closed=True,
    ),
    "Health": _obj({"ok": {"type": "boolean"}}),
    "Ready": _obj(
        {
            "ok": {"type": "boolean"},
            "store": {"type": "boolean"},
            "scheduler": {"type": "boolean"},
            "problems": {"type": "array", "items": {"type": "string"}},
        }
    ),
}


def _json(schema: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _text(description: str, media: str = "text/plain") -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "string"}}}}


ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
TOKEN = {
    "name": "token",
    "in": "query",
    "required": True,
    "schema": {"type": "string"},
    "description": "the signed token of a subscription link",
}
LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "enum": list(LOCALES)},
    "description": "language; else Accept-Language, else service.locale",
}
TZ = {
    "name": "tz",
    "in": "query",
    "required": False,
    "schema": {"type": "string"},
    "description": "an IANA time zone such as Europe/Warsaw; else service.timezone",
}


def _admin(
    summary: str,
    body: str | None,
    ok: dict[str, Any],
    *,
    path_id: bool = True,
    status: str = "200",
    method: str = "post",
    subject: str = "incident",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": ["admin"],
        "security": [{"bearer": []}],
        "responses": {
            status: ok,
            "400": _json("Error", "bad JSON or a bad value; the message names the field"),
            "401": _json("Error", "missing or wrong bearer token"),
            "404": _json(
                "Error",
                "the admin API is off (no admin_token)"
                + (f", or no such {subject}" if path_id else ""),
            ),
        },
    }
    if method == "get":
        del op["responses"]["400"]
    if path_id:
        op["parameters"] = [ID]
        op["responses"]["409"] = _json("Error", f"the {subject}'s state forbids this")
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return {method: op}


def _paths() -> dict[str, Any]:
    result = _json("AdminResult", "the incident after the action, and the notice it published")
    admin_base = "/api/v1/admin/incidents/{id}"
    return {
        "/healthz": {
            "get": {"summary": "liveness", "responses": {"200": _json("Health", "alive")}}
        },
        "/readyz": {
            "get": {
                "summary": "readiness: store writable, delivery loops running, scheduler running",
                "responses": {"200": _json("Ready", "ready"), "503": _json("Ready", "not ready")},
            }
        },
        "/metrics": {
            "get": {"summary": "Prometheus exposition", "responses": {"200": _text("metrics")}}
        },
        "/api/v1/status": {
            "get": {
                "summary": "overall status, components, open incidents",
                "responses": {"200": _json("Status", "current status")},
            }
        },
        "/api/v1/incidents": {
            "get": {
                "summary": "incidents, newest first, with their update timeline",
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    }
                ],
                "responses": {
                    "200": _json("IncidentList", "incidents"),
                    "400": _text("limit: not a number, or out of range"),
                },
            }
        },
        "/api/v1/incidents/{id}": {
            "get": {
                "summary": "one incident with its update timeline",
                "parameters": [ID],
                "responses": {
                    "200": _json("IncidentWithUpdates", "the incident"),
                    "404": _text("no such incident"),
                },
            }
        },
        "/api/v1/incidents/{id}/postmortem": {
            "get": {
                "summary": "the post-mortem draft (Markdown); public once published, "
                "else needs the admin bearer token",
                "parameters": [ID],
                "security": [{}, {"bearer": []}],
                "responses": {
                    "200": _text("the draft", "text/markdown"),
                    "404": _text("no such incident, or not published"),
                },
            }
        },
        "/api/v1/alertmanager": {
            "post": {
                "summary": "Alertmanager webhook receiver (payload version 4): matching firing "
                "alerts are a component's failing verdict, their resolution a passing one",
                "security": [{"bearer": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": _json("AlertmanagerResult", "the components the alerts matched"),
                    "400": _json("Error", "not a version 4 payload; the message names the field"),
                    "401": _json("Error", "missing or wrong bearer token"),
                    "404": _json("Error", "the receiver is off (no alertmanager_token)"),
                },
            }
        },
        "/api/v1/subscribe": {
            "post": {
                "summary": "subscribe an e-mail address (double opt-in): a link to confirm is "
                "mailed to it; the answer is the same whether or not the address is known",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Subscribe")}},
                },
                "responses": {
                    "202": _json("SubscribeAccepted", "taken; the e-mail is on its way"),
                    "400": _json("Error", "bad JSON or a bad value; the message names the field"),
                    "429": _json(
                        "Error",
                        "too many sign-ups from this client or for this address; "
                        "Retry-After says when to try again",
                    ),
                    "503": _json("Error", "no e-mail channel (sendgrid or smtp) is configured"),
                },
            }
        },
        "/subscribe": {
            "post": {
                "summary": "the status page's sign-up form (form fields as /api/v1/subscribe; "
                "`components` repeated); answered with a page",
                "responses": {
                    "200": _text("the page: check your inbox", "text/html"),
                    "400": _text("the page: a field is wrong", "text/html"),
                    "429": _text("the page: too many sign-ups; see Retry-After", "text/html"),
                    "503": _text("the page: subscriptions are off", "text/html"),
                },
            }
        },
        "/subscribe/confirm": {
            "get": {
                "summary": "the link in the confirmation e-mail: the subscription is confirmed",
                "parameters": [TOKEN],
                "responses": {
                    "200": _text("the page: subscribed", "text/html"),
                    "400": _text("the page: malformed, expired or replaced link", "text/html"),
                    "403": _text("the page: the link's signature is not ours", "text/html"),
                },
            }
        },
        "/unsubscribe": {
            "get": {
                "summary": "every e-mail's List-Unsubscribe link: a page with a one-click "
                "button and the preferences form (it unsubscribes nobody)",
                "parameters": [TOKEN],
                "responses": {
                    "200": _text("the page", "text/html"),
                    "400": _text("the page: malformed link", "text/html"),
                    "403": _text("the page: the link's signature is not ours", "text/html"),
                },
            },
            "post": {
                "summary": "one-click unsubscribe (RFC 8058: body List-Unsubscribe=One-Click)",
                "parameters": [TOKEN],
                "responses": {
                    "200": _text("the page: unsubscribed", "text/html"),
                    "400": _text("the page: malformed link", "text/html"),
                    "403": _text("the page: the link's signature is not ours", "text/html"),
                },
            },
        },
        "/preferences": {
            "post": {
                "summary": "save a subscriber's components, language and time zone (form)",
                "parameters": [TOKEN],
                "responses": {
                    "200": _text("the page: saved", "text/html"),
                    "400": _text("the page: a field or the link is wrong", "text/html"),
                    "403": _text("the page: the link's signature is not ours", "text/html"),
                },
            }
        },
        "/api/v1/banner": {
            "get": {
                "summary": "in-app banner (CORS *)",
                "parameters": [LANG],
                "responses": {"200": _json("Banner", "{} when all is well")},
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "this document",
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/feed.atom": {
            "get": {
                "summary": "incidents and their updates as Atom",
                "parameters": [LANG],
                "responses": {"200": _text("feed", "application/atom+xml")},
            }
        },
        "/": {
            "get": {
                "summary": "the status page",
                "parameters": [LANG],
                "responses": {"200": _text("page", "text/html")},
            }
        },
        "/incidents/{id}/postmortem": {
            "get": {
                "summary": "the published post-mortem as a page in the reader's language; "
                "`tz` (an IANA zone) picks the zone its times are shown in",
                "parameters": [ID, LANG, TZ],
                "responses": {
                    "200": _text("page", "text/html"),
                    "404": _text("no such incident, or its post-mortem is not published"),
                },
            }
        },
        "/banner.js": {
            "get": {
                "summary": "embeddable banner script",
                "responses": {"200": _text("script", "text/javascript")},
            }
        },
        "/api/v1/admin/incidents": _admin(
            "open a manual incident (publishes incident.opened)",
            "OpenIncident",
            _json("AdminResult", "opened"),
            path_id=False,
            status="201",
        ),
        f"{admin_base}/updates": _admin("post a human update", "Update", result),
        f"{admin_base}/cause": _admin(
            "set the cause (identified) and corrective actions", "Cause", result
        ),
        f"{admin_base}/resolve": _admin("resolve", "Resolve", result),
        f"{admin_base}/publish": _admin("publish a held first notice now", None, result),
        f"{admin_base}/veto": _admin("veto a held first notice: tell nobody", None, result),
        f"{admin_base}/postmortem": _admin(
            "publish the post-mortem (postmortem.published)", None, result
        ),
        "/api/v1/admin/maintenance": {
            **_admin(
                "schedule maintenance (suppresses incidents in its window)",
                "Maintenance",
                _json("MaintenanceResult", "scheduled"),
                path_id=False,
                status="201",
            ),
            **_admin(
                "upcoming and current maintenance windows",
                None,
                _json("MaintenanceList", "the windows"),
                path_id=False,
                method="get",
            ),
        },
        "/api/v1/admin/maintenance/{id}/cancel": _admin(
            "cancel maintenance: before its start, tell subscribers it is called off; once "
            "under way, end it now",
            None,
            _json("MaintenanceCancelled", "the window after cancelling, and the notice"),
            subject="maintenance window",
        ),
    }


@lru_cache(maxsize=1)
def _document() -> dict[str, Any]:
    schemas = dict(SCHEMAS)
    for name, model in admin.BODIES.items():
        schemas[name] = model.model_json_schema(ref_template="#/components/schemas/{model}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "outage-detector",
            "version": version,
            "description": "Status, incidents, banner and the admin API.",
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "server.admin_token"}
            },
        },
    }


def document() -> dict[str, Any]:
    """A fresh copy, so a caller can never alter the served document."""
    return copy.deepcopy(_document())
