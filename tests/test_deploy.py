"""The deployment files hold together: every variable compose.yaml and .env.example use is
a real setting, every setting is in .env.example and the README, the image is non-root with a
health check and no dev extras, Caddy proxies the paths the channels serve.

`docker compose config` runs when Docker's compose plugin is installed; the image is built
only when the Docker daemon answers and BDG_TEST_DOCKER_BUILD=1 (it pulls the base image)."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bot.telegram.channel import WEBHOOK_PATH as TELEGRAM_PATH
from bot.zalo.channel import WEBHOOK_PATH as ZALO_PATH
from bot.zalo_oa.channel import WEBHOOK_PATH as ZALO_OA_PATH
from kernel.settings import SchedulerSettings, Settings

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAME = re.compile(r"^(BDG_|TELEGRAM_|ZALO_)|^(DATABASE_URL|PUBLIC_URL)$")
# Variables of compose.yaml itself, for Caddy and PostgreSQL.
COMPOSE_ONLY = {"DOMAIN", "POSTGRES_PASSWORD"}


def aliases(model: type[BaseModel]) -> set[str]:
    """The environment names of a settings model, nested settings models included."""
    out: set[str] = set()
    for field in model.model_fields.values():
        if field.alias:
            out.add(field.alias)
        ann: Any = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= aliases(ann)
    return out


SETTINGS = aliases(Settings)


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def _compose_variables(doc: Any) -> set[str]:
    """Names in environment: maps and ${VAR} interpolations anywhere in the file."""
    found: set[str] = set()
    raw = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    found |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", raw))

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            env = node.get("environment")
            if isinstance(env, dict):
                found.update(env)
            elif isinstance(env, list):
                found.update(str(e).split("=", 1)[0] for e in env)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return found


def test_compose_uses_only_real_settings() -> None:
    doc = _compose()
    assert {"db", "migrate", "bot", "caddy"} <= set(doc["services"])
    used = _compose_variables(doc)
    settings_used = {v for v in used if SETTING_NAME.search(v)}
    assert settings_used, "compose.yaml sets no setting at all?"
    assert settings_used <= SETTINGS, sorted(settings_used - SETTINGS)
    assert used - settings_used <= COMPOSE_ONLY | {"POSTGRES_DB", "POSTGRES_USER"}


def test_compose_runs_migrations_once_before_the_bot() -> None:
    services = _compose()["services"]
    assert services["migrate"]["command"] == ["bdg", "db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["bot"]["command"] == ["bdg", "serve"]
    deps = services["bot"]["depends_on"]
    assert deps["migrate"]["condition"] == "service_completed_successfully"
    assert deps["db"]["condition"] == "service_healthy"
    assert "ports" not in services["bot"], "the bot is reached through Caddy only"
    assert services["bot"]["environment"]["DATABASE_URL"].startswith("postgresql://")


def _env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    listed = _env_example()
    names = {n for n in listed if SETTING_NAME.search(n)}
    assert names - SETTINGS == set(), "not settings: " + ", ".join(sorted(names - SETTINGS))
    assert SETTINGS - names == set(), "missing: " + ", ".join(sorted(SETTINGS - names))
    assert set(listed) - names <= COMPOSE_ONLY


def test_env_example_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's uncommented values load (a typo in a default would fail here)."""
    for name in list(os.environ):
        if SETTING_NAME.search(name):
            monkeypatch.delenv(name)
    for name, value in _env_example().items():
        if name in SETTINGS:
            monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    sched = SchedulerSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.timezone == "Asia/Ho_Chi_Minh" and sched.tick_minutes == 15


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = sorted(n for n in SETTINGS if f"`{n}`" not in readme)
    assert missing == []


def test_dockerfile_is_multi_stage_non_root_with_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert len(re.findall(r"^FROM ", text, re.M)) >= 2
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*/healthz", text, re.M | re.S)
    installs = [ln for ln in text.splitlines() if "pip install" in ln and ln.startswith("RUN")]
    assert installs and not any("dev" in ln for ln in installs)
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".env", ".venv", "data", ".git"} <= set(ignore)


def test_caddy_proxies_the_webhook_paths() -> None:
    caddy = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    for path in (TELEGRAM_PATH, ZALO_PATH, ZALO_OA_PATH, "/files/*", "/web/*"):
        assert path in caddy, path
    assert "/metrics" not in re.findall(r"@public path (.*)", caddy)[0]
    volumes = _compose()["services"]["caddy"]["volumes"]
    assert any(v.startswith("./deploy/Caddyfile:") for v in volumes)


def test_systemd_units() -> None:
    for name in ("bdg.service", "bdg-backup.service"):
        unit = configparser.ConfigParser(strict=False, interpolation=None)
        unit.optionxform = str  # type: ignore[assignment,method-assign]
        unit.read(ROOT / "deploy" / name, encoding="utf-8")
        service = unit["Service"]
        assert service["User"] == "bdg"
        assert service["EnvironmentFile"] == "/etc/bdg/bdg.env"
    main = configparser.ConfigParser(strict=False, interpolation=None)
    main.read(ROOT / "deploy" / "bdg.service", encoding="utf-8")
    assert main["Service"]["ExecStart"].endswith("bdg serve")
    assert main["Service"]["ExecStartPre"].endswith("bdg db upgrade")


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )


def _compose_available() -> bool:
    return shutil.which("docker") is not None and _docker("compose", "version").returncode == 0


@pytest.mark.skipif(not _compose_available(), reason="docker compose is not installed")
def test_docker_compose_config_validates(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text((ROOT / ".env.example").read_text(encoding="utf-8"), encoding="utf-8")
    done = _docker(
        "compose", "--env-file", str(env), "-f", str(ROOT / "compose.yaml"), "config", "-q"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(
    os.environ.get("BDG_TEST_DOCKER_BUILD") != "1"
    or shutil.which("docker") is None
    or _docker("info").returncode != 0,
    reason="set BDG_TEST_DOCKER_BUILD=1 with a running Docker daemon (pulls the base image)",
)
def test_image_builds() -> None:
    done = subprocess.run(
        ["docker", "build", "-t", "bdg-bot:test", "."],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
