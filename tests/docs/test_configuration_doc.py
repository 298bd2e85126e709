"""docs/configuration.md says exactly what the config models accept, so it cannot drift.

The expected sections are found by walking the models from `Config`: one section per top-level
key, one for probes (`components[].probes`, `controls`), one per registered probe kind and one
per registered channel kind. A field holding one model is written dotted (`contact.name`,
`expect.status`). For each section the doc's table (`| key | default | meaning |`) must list
every YAML key (the alias where there is one: `from`, `json`) and no other; a default the doc
states must be the model's, and `**required**` must mean required. Every model reachable from
`Config` must be covered by some section, so a new model cannot slip past this test.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, Literal

import pytest
import yaml
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from tests.config._data import config_models
from tests.docs._markdown import DOCS, ROOT, Row, Section, sections

DOC = DOCS / "configuration.md"
REQUIRED = "**required**"


# --- what the models say ------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    yaml: str  # as written in YAML, dotted below a nested model: `contact.name`
    info: FieldInfo
    owner: str  # the model's name, for messages


@dataclass
class Expected:
    name: str
    keys: dict[str, Key] = field(default_factory=dict)
    required: bool | None = None  # top-level sections: is the section itself required?
    table: bool = True  # does the doc need a key table (a section of probes refers to another)


def _held_models(tp: Any) -> list[type[BaseModel]]:
    """The models a type holds (inside unions, lists, Annotated), not looking inside them."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    found: list[type[BaseModel]] = []
    for arg in typing.get_args(tp):
        found += [m for m in _held_models(arg) if m not in found]
    return found


def _nested_model(info: FieldInfo) -> type[BaseModel] | None:
    """The one model a field holds directly (`contact: Contact`, `expect: HttpExpect | None`):
    its keys are written dotted. A list of models is not nested this way."""
    tp = info.annotation
    if typing.get_origin(tp) in (typing.Union, UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _keys(
    model: type[BaseModel],
    covered: set[type[BaseModel]],
    prefix: str = "",
    skip: frozenset[str] = frozenset(),
) -> dict[str, Key]:
    covered.add(model)
    out: dict[str, Key] = {}
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        key = prefix + (info.alias or name)
        nested = _nested_model(info)
        if nested is not None:
            out.update(_keys(nested, covered, key + "."))
        else:
            out[key] = Key(key, info, model.__name__)
    return out


def expected_sections() -> tuple[dict[str, Expected], set[type[BaseModel]]]:
    """Every section the doc must have, and the models they cover."""
    import probes as probe_kinds
    from detector import channels as channel_kinds
    from detector.config import models
    from detector.config.fields import ChannelBase

    covered: set[type[BaseModel]] = {models.Config}
    out: list[Expected] = []
    for name, info in models.Config.model_fields.items():
        held = _held_models(info.annotation)
        sec = Expected(name, required=info.is_required())
        if held == [models.ProbeConfig]:  # `controls`: probes, described once under `probes`
            sec.table = False
        elif held and all(issubclass(m, ChannelBase) for m in held):  # what every channel has
            sec.keys = _keys(ChannelBase, covered)
        else:
            for model in held:
                sec.keys.update(_keys(model, covered))
        out.append(sec)

    kinds = list(probe_kinds.KINDS)
    probe = Expected("probes", _keys(models.ProbeConfig, covered, skip=frozenset(kinds)))
    for kind in kinds:  # each kind's key holds its spec, which has a section of its own
        probe.keys[kind] = Key(kind, models.ProbeConfig.model_fields[kind], "ProbeConfig")
    out.append(probe)
    out += [Expected(k.name, _keys(k.spec, covered)) for k in probe_kinds.KINDS.values()]

    common = frozenset(ChannelBase.model_fields) | {"type"}
    for ch in channel_kinds.KINDS.values():
        keys = _keys(ch.config, covered, skip=common)
        out.append(Expected(ch.name, keys, table=bool(keys)))

    named: dict[str, Expected] = {}
    for sec in out:
        assert sec.name not in named, (
            f"two config sections are named `{sec.name}` (a top-level key, a probe kind or a "
            "channel kind): the doc's headings could not tell them apart; extend this test"
        )
        named[sec.name] = sec
    return named, covered


# --- what the doc says ----------------------------------------------------------------------


def section_name(title: str) -> str:
    """`## \\`service\\` (required)` → service; `### Probes` → probes."""
    code = re.search(r"`([^`]+)`", title)
    return code.group(1) if code else title.split()[0].lower()


def key_rows(sec: Section) -> list[Row]:
    return [row for t in sec.tables if t.header[:1] == ["key"] for row in t.rows]


def _literals(tp: Any) -> Iterator[Any]:
    if typing.get_origin(tp) is Literal:
        yield from typing.get_args(tp)
        return
    for arg in typing.get_args(tp):
        yield from _literals(arg)


def _has_secret(tp: Any) -> bool:
    return tp is SecretStr or any(_has_secret(a) for a in typing.get_args(tp))


def _is_duration(info: FieldInfo) -> bool:
    from detector.config.fields import parse_duration

    return any(getattr(m, "func", None) is parse_duration for m in info.metadata)


def _show(info: FieldInfo, value: Any) -> str:
    if value is None:
        return "none"
    if _is_duration(info):
        from detector.config.schema import duration_text

        return f"`{duration_text(value)}`"
    return f"`{value if isinstance(value, str) else json.dumps(value)}`"


def default_problem(key: Key, cell: str) -> str | None:
    """What is wrong with the doc's default cell for `key`, if anything.

    `**required**`: the model requires it. A single code span (`30s`, `[200]`, `true`) is a
    YAML value: validated by the field's own type, it must equal the model's default. `none`
    or words (`all`, `the system's`, `as \\`service.locale\\``) mean the key is unset by
    default: the model's default must be None.
    """
    info = key.info
    if REQUIRED in cell:
        if info.is_required():
            return None
        default = info.get_default(call_default_factory=True)
        return f"the doc says required; the models default it to {_show(info, default)}"
    if info.is_required():
        return f"required in the models; the doc gives {cell!r} as a default: write {REQUIRED}"
    default = info.get_default(call_default_factory=True)
    literal = re.fullmatch(r"`([^`]+)`", cell.strip())
    if literal is None:
        if default is None:
            return None
        return f"the doc gives no value ({cell!r}); the models default it to {_show(info, default)}"
    try:
        stated = TypeAdapter(info.rebuild_annotation()).validate_python(
            yaml.safe_load(literal.group(1))
        )
    except (ValidationError, yaml.YAMLError) as e:
        return f"the doc's default {cell} is not a valid value: {str(e).splitlines()[0]}"
    if stated != default:
        return f"the doc says {cell}; the models default it to {_show(info, default)}"
    return None


def drift(text: str) -> list[str]:
    """Every way the doc `text` and the config models disagree, one line each, naming the
    section and the key. Empty: no drift."""
    from detector.config import loader, models
    from detector.config.fields import EVENTS
    from detector.config.subscribers import COLUMNS

    expected, covered = expected_sections()
    problems: list[str] = []
    doc: dict[str, list[Section]] = {}
    for sec in sections(text):
        doc.setdefault(section_name(sec.title), []).append(sec)

    for model in config_models():
        if model not in covered:
            problems.append(
                f"model {model.__name__} is reachable from Config but no doc section covers "
                "it: give it a section in docs/configuration.md and teach expected_sections()"
            )

    for name, secs in doc.items():
        if name not in expected and any(key_rows(s) for s in secs):
            problems.append(
                f"section `{name}` (line {secs[0].line}): a key table for a section "
                "the models do not have"
            )

    for name, want in expected.items():
        secs = doc.get(name, [])
        if not secs:
            problems.append(
                f"section `{name}`: no heading for it (the models have it, with "
                f"keys {', '.join(want.keys) or 'none'})"
            )
            continue
        if len(secs) > 1:
            problems.append(
                f"section `{name}`: {len(secs)} headings name it (lines "
                f"{', '.join(str(s.line) for s in secs)}); one is expected"
            )
        sec = secs[0]
        if want.required is not None and ("(required" in sec.title) != want.required:
            problems.append(
                f"section `{name}`: the models make it "
                f"{'required' if want.required else 'optional'}; its heading "
                f"{'lacks' if want.required else 'says'} '(required'"
            )
        rows = key_rows(sec)
        if want.keys and not rows:
            problems.append(
                f"section `{name}` (line {sec.line}): no `| key | default | meaning |`"
                f" table; the models have {', '.join(want.keys)}"
            )
            continue
        if not want.table and rows:
            problems.append(
                f"section `{name}` (line {sec.line}): has a key table, but it holds "
                "probes: their keys belong under `probes`"
            )
        listed: dict[str, Row] = {}
        for row in rows:
            names = row.codes(0)
            if not names:
                problems.append(f"section `{name}` line {row.line}: a row naming no `key`")
            for k in names:
                if k in listed:
                    problems.append(f"section `{name}` line {row.line}: `{k}` is listed twice")
                listed[k] = row
        for k, key in want.keys.items():
            found = listed.get(k)
            if found is None:
                problems.append(
                    f"section `{name}`: key `{k}` ({key.owner}) is missing from its table"
                )
                continue
            row = found
            cell = row.cells[1] if len(row.cells) > 1 else ""
            why = default_problem(key, cell)
            if why:
                problems.append(f"section `{name}` key `{k}` (line {row.line}): {why}")
            said = " ".join(row.cells[1:])
            alone = len(row.codes(0)) == 1  # a row of several keys refers to their own rows
            for value in _literals(key.info.annotation) if alone else ():
                if f"`{value}`" not in said:
                    problems.append(
                        f"section `{name}` key `{k}` (line {row.line}): does not "
                        f"name the value `{value}` the models accept"
                    )
        for k, row in listed.items():
            if k not in want.keys:
                problems.append(
                    f"section `{name}` line {row.line}: lists `{k}`, which the "
                    f"models do not have (they have {', '.join(want.keys)})"
                )

    # what the tables cannot say: values and names listed in the prose and in single rows
    for sec in doc.get("channels", [])[:1]:
        events = next((r for r in key_rows(sec) if r.codes(0) == ["events"]), None)
        named = set(re.findall(r"`([^`]+)`", " ".join(events.cells[1:]))) if events else set()
        missing = [e for e in EVENTS if e not in named]
        extra = sorted(e for e in named if "." in e and e not in EVENTS)
        if events and (missing or extra):
            problems.append(
                f"section `channels` key `events`: events missing {missing}, unknown {extra}"
            )
    secrets = sorted(
        {
            k.yaml.rpartition(".")[2]
            for s in expected.values()
            for k in s.keys.values()
            if _has_secret(k.info.annotation)
        }
    )
    said_secrets = re.search(r"\*\*Secrets\*\* \(([^)]*)\)", text)
    if said_secrets is None:
        problems.append(
            f"general rules: no '**Secrets** (`...`)' line naming the secret keys {secrets}"
        )
    elif sorted(re.findall(r"`([^`]+)`", said_secrets.group(1))) != secrets:
        problems.append(
            f"general rules: the **Secrets** line names "
            f"{sorted(re.findall(r'`([^`]+)`', said_secrets.group(1)))}; the "
            f"secret keys are {secrets}"
        )
    if f"`{','.join(COLUMNS)}`" not in text:
        problems.append(f"section `subscribers`: the CSV columns are `{','.join(COLUMNS)}`")
    for sec in doc.get("server", [])[:1]:
        listen = next((r for r in key_rows(sec) if r.codes(0) == ["listen"]), None)
        if listen is not None and f"`{loader.LISTEN_ENV}`" not in listen.cells[-1]:
            problems.append(
                f"section `server` key `listen`: does not say `{loader.LISTEN_ENV}` overrides it"
            )
    per_probe = set(models.ProbeConfig.model_fields)
    for sec in doc.get("probes", [])[:1]:
        for k in models.Detection.model_fields:
            if k not in per_probe and f"`{k}`" not in sec.text:
                problems.append(
                    f"section `probes`: does not say `detection.{k}` cannot be set per probe"
                )
    return problems


# --- the tests ---------------------------------------------------------------------------------


def test_the_doc_matches_the_config_models() -> None:
    problems = drift(DOC.read_text())
    assert not problems, "docs/configuration.md has drifted from the config models:\n" + "\n".join(
        problems
    )


def _edit(old: str, new: str) -> str:
    text = DOC.read_text()
    assert text.count(old) == 1, f"the doc no longer holds {old!r}: update this test"
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "| `group_within` | `2m` |",
            "| `group_within_x` | `2m` |",
            [
                "section `detection`: key `group_within` (Detection) is missing from its table",
                "section `detection` line",
                "lists `group_within_x`, which the models do not have",
            ],
        ),
        (
            "| `interval` | `30s` |",
            "| `interval` | `1m` |",
            [
                "section `detection` key `interval`",
                "the doc says `1m`; the models default it to `30s`",
            ],
        ),
        (
            "| `port` | `443` |",
            "| `port` | **required** |",
            ["section `tls` key `port`", "the doc says required; the models default it to `443`"],
        ),
        (
            "| `from` | **required** | An E.164",
            "| `from` | none | An E.164",
            ["section `twilio` key `from`", "required in the models"],
        ),
        (
            "| `expect.json` | none |",
            "| `expect.body_json` | none |",
            [
                "section `http`: key `expect.json` (HttpExpect) is missing",
                "lists `expect.body_json`, which the models do not have",
            ],
        ),
        (
            "| `method` | `GET` | `GET`, `HEAD`,",
            "| `method` | `GET` | `GET`,",
            ["section `http` key `method`", "does not name the value `HEAD`"],
        ),
        (
            "#### `dns`",
            "#### Name lookups",
            [
                "section `dns`: no heading for it",
                "section `name` (line",
                "a key table for a section the models do not have",
            ],
        ),
        (
            ", `maintenance.ended`,",
            ",",
            ["section `channels` key `events`: events missing ['maintenance.ended']"],
        ),
    ],
)
def test_drift_is_named_by_section_and_key(old: str, new: str, expected: list[str]) -> None:
    problems = "\n".join(drift(_edit(old, new)))
    for words in expected:
        assert words in problems, problems


def test_a_new_probe_or_channel_kind_needs_its_section() -> None:
    """Kinds registered as a plugin would be (before the models are built) must be documented:
    walking the registries finds them, no list in this test names them."""
    code = """
import json
from typing import Literal
import probes
from detector import channels
from detector.config.fields import ChannelBase, Model, Secret

class PingSpec(Model):
    host: str

class PagerChannel(ChannelBase):
    type: Literal["pager"]
    routing_key: Secret

probes.register(probes.ProbeKind("ping", PingSpec, lambda spec, ctx: None))
channels.register(channels.ChannelKind("pager", PagerChannel, lambda cfg, name: None))
from tests.docs.test_configuration_doc import DOC, drift
print(json.dumps(drift(DOC.read_text())))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    problems = "\n".join(json.loads(out.stdout))
    assert "section `ping`: no heading for it" in problems, problems
    assert "section `pager`: no heading for it" in problems, problems
    assert "section `probes`: key `ping` (ProbeConfig) is missing from its table" in problems
