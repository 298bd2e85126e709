"""Every secret value in a config, found by walking it: what logs and errors must never show.

Any pydantic SecretStr anywhere in the models counts, so a new channel kind's key or token is
included without editing a list here. Two secrets are plain strings by nature and are added
too: the password in `storage.url`, and probe header values whose names say they carry a
credential (Authorization, X-Api-Key, Cookie, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

from detector.config.loader import SECRET_HEADER_RE
from detector.config.models import Config


def secret_values(config: Config) -> list[str]:
    """Each secret value once, in the order the config gives them; empty values are left out."""
    found = [*_walk(config), *_storage_password(config.storage.url)]
    return [value for value in dict.fromkeys(found) if value]


def _walk(node: Any, key: str = "") -> Iterator[str]:
    if isinstance(node, SecretStr):
        yield node.get_secret_value()
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _walk(getattr(node, name), name)
    elif isinstance(node, dict):
        for k, v in node.items():
            if key == "headers" and isinstance(v, str) and SECRET_HEADER_RE.search(str(k)):
                yield v
            else:
                yield from _walk(v)
    elif isinstance(node, list | tuple | set | frozenset):
        for item in node:
            yield from _walk(item)


def _storage_password(url: str) -> list[str]:
    """As written in the URL and as the driver sees it (percent-decoded)."""
    try:
        password = urlsplit(url).password or ""
    except ValueError:
        return []
    return [password, unquote(password)]
