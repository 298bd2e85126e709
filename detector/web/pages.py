"""The one Jinja environment of every page and page-like mail the web serves (status page,
post-mortem page, sign-up pages and their mail): autoescaped, strict about missing values,
compiled once per template."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
