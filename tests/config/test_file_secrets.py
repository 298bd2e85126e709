"""Secrets mounted as files (Docker and Kubernetes): `${file:PATH}` and the `NAME_FILE`
convention; and DETECTOR_LISTEN, which lets a container listen on all interfaces."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from detector.config import ConfigError, load_config, parse_config

BASE = {
    "service": {"name": "Acme", "contact": {"name": "Jane Doe", "email": "ops@acme.example"}},
    "components": [
        {
            "id": "api",
            "name": "API",
            "impact": "You cannot reach the API.",
            "probes": [{"name": "api", "tcp": {"host": "127.0.0.1", "port": 1}}],
        }
    ],
}


def write(tmp: Path, admin_token: str) -> Path:
    raw = {**BASE, "server": {"admin_token": admin_token}}
    path = tmp / "detector.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_file_reference_reads_the_secret_and_drops_the_newline(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "admin").write_text("s3cret-token\n")
    config = load_config(write(tmp_path, "${file:secrets/admin}"), env={})  # relative: config dir
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == "s3cret-token"
    absolute = load_config(write(tmp_path, f"${{file:{tmp_path / 'secrets' / 'admin'}}}"), env={})
    assert absolute.server.admin_token is not None


def test_name_file_convention(tmp_path: Path) -> None:
    (tmp_path / "admin").write_text("from-a-file\n")
    config = load_config(
        write(tmp_path, "${ADMIN_TOKEN}"), env={"ADMIN_TOKEN_FILE": str(tmp_path / "admin")}
    )
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == "from-a-file"
    # the variable itself wins over its _FILE twin
    config = load_config(
        write(tmp_path, "${ADMIN_TOKEN}"),
        env={"ADMIN_TOKEN": "direct", "ADMIN_TOKEN_FILE": str(tmp_path / "x")},
    )
    assert config.server.admin_token is not None
    assert config.server.admin_token.get_secret_value() == "direct"


@pytest.mark.parametrize(("content", "why"), [(None, "cannot read file"), ("\n", "empty")])
def test_a_missing_or_empty_secret_file_names_the_key(
    tmp_path: Path, content: str | None, why: str
) -> None:
    if content is not None:
        (tmp_path / "admin").write_text(content)
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, "${file:admin}"), env={})
    [line] = e.value.lines
    assert line.startswith("server.admin_token: ") and why in line


def test_detector_listen_overrides_server_listen() -> None:
    text = yaml.safe_dump(BASE)
    assert parse_config(text, env={}).server.listen == "127.0.0.1:9478"
    config = parse_config(text, env={"DETECTOR_LISTEN": "0.0.0.0:9478"})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9478)
    with pytest.raises(ConfigError) as e:
        parse_config(text, env={"DETECTOR_LISTEN": "everywhere"})
    assert e.value.lines[0].startswith("server.listen: ")
