"""Service settings, read from ``ECOPATROL_*`` environment variables and ``.env``.

Nothing is read at import time: :func:`get_settings` builds a fresh object, and
tests pass their own :class:`Settings` to ``create_app``.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from imagery.limits import DEFAULT_MAX_PIXELS
from missions.flight.errors import ConnectError
from missions.flight.link import parse_forward
from server.basemap import BasemapError, basemaps
from store.db import DEFAULT_DATA_DIR, default_url

MIN_SECRET_BYTES = 32
SECRET_FILE = "secret_key"


def kept_secret(path: Path) -> str:
    """The secret stored at ``path``, written there first (mode 0600) if there is none.

    Written whole to a private temporary file, then linked into place (which
    fails if the file exists): two processes starting at once read the same secret.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return path.read_text(encoding="utf-8").strip()


class Settings(BaseSettings):
    """Everything the service needs to run; defaults suit a single laptop."""

    model_config = SettingsConfigDict(
        env_prefix="ECOPATROL_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; SQLite in data_dir when unset."
    )
    secret_key: SecretStr = Field(
        default=SecretStr(""),
        description=(
            f"Signs session tokens; at least {MIN_SECRET_BYTES} bytes. When unset, one is made "
            f"once and kept in data_dir/{SECRET_FILE} (mode 0600), so sessions survive a restart."
        ),
    )
    token_expire_minutes: int = Field(default=12 * 60, ge=1)
    cookie_secure: bool = Field(
        default=False, description="Send the session cookie over HTTPS only (set behind TLS)."
    )
    upload_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_image_pixels: int = Field(
        default=DEFAULT_MAX_PIXELS,
        ge=1,
        description="Images with more pixels are refused on upload and never decoded.",
    )
    partial_upload_timeout_s: float = Field(
        default=3600.0,
        gt=0,
        description="Unfinished upload files (.part) older than this are deleted.",
    )
    processing_workers: int = Field(
        default=1, ge=1, description="Dask worker processes of the server's own processing."
    )
    sitl_speedup: int = Field(default=5, ge=1, le=50)
    forward: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Ground stations every flight is relayed to and from, comma-separated "
            "(udp:HOST:PORT sends to QGroundControl's 14550; udpin:HOST:PORT listens)."
        ),
    )
    basemap: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description=(
            "The web map's base layers, comma-separated, from local files only: .mbtiles "
            "files, XYZ tile folders ({z}/{x}/{y}.png) and GeoTIFF orthophotos (.tif)."
        ),
    )
    scheduler_tick_s: float = Field(
        default=30.0, gt=0, le=3600, description="How often the scheduler looks for due patrols."
    )
    schedule_grace_min: float = Field(
        default=10.0,
        gt=0,
        description="A scheduled slot found later than this (the server was down) is missed.",
    )
    recharge_min: float = Field(
        default=30.0,
        ge=0,
        description="A drone is taken as charged this long after its last flight ended.",
    )
    dock_links: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description=(
            "The link to each dock's drone for scheduled patrols, comma-separated "
            "DOCK_ID=URL pairs (e.g. dock-south=udpin:0.0.0.0:14550)."
        ),
    )
    schedule_sitl: bool = Field(
        default=False,
        description="Fly a scheduled sortie whose dock has no link in SITL (demos, tests).",
    )
    title: str = "EcoPatrol"

    @field_validator("forward", mode="before")
    @classmethod
    def _forwards(cls, value: object) -> object:
        """Comma-separated in the environment; each URL checked before any flight."""
        urls = (
            [u.strip() for u in value.split(",") if u.strip()] if isinstance(value, str) else value
        )
        for url in urls if isinstance(urls, list) else []:
            try:
                parse_forward(str(url))
            except ConnectError as exc:
                raise ValueError(str(exc)) from None
        return urls

    @field_validator("dock_links", mode="before")
    @classmethod
    def _dock_links(cls, value: object) -> object:
        """``DOCK_ID=URL`` pairs, comma-separated, in the environment."""
        if not isinstance(value, str):
            return value
        pairs = [p.strip() for p in value.split(",") if p.strip()]
        if any("=" not in p for p in pairs):
            raise ValueError("give each dock's link as DOCK_ID=URL, comma-separated")
        return {k.strip(): v.strip() for k, v in (p.split("=", 1) for p in pairs)}

    @field_validator("basemap", mode="before")
    @classmethod
    def _split_basemap(cls, value: object) -> object:
        """Comma-separated in the environment."""
        if isinstance(value, str):
            return [Path(p.strip()).expanduser() for p in value.split(",") if p.strip()]
        return value

    @field_validator("basemap")
    @classmethod
    def _open_basemap(cls, value: list[Path]) -> list[Path]:
        """Every layer opened now, so a missing or corrupt file stops the start in one line."""
        paths = [p.expanduser() for p in value]
        try:
            basemaps(paths)
        except BasemapError as exc:
            raise ValueError(str(exc)) from None
        return paths

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @model_validator(mode="after")
    def _secret(self) -> Settings:
        """The given secret, else the one kept in the data directory (made on first use)."""
        if not self.secret_key.get_secret_value():
            path = self.data_dir / SECRET_FILE
            try:
                self.secret_key = SecretStr(kept_secret(path))
            except OSError as exc:
                raise ValueError(f"cannot keep the secret key in {path}: {exc.strerror}") from None
            if len(self.secret_key.get_secret_value().encode()) < MIN_SECRET_BYTES:
                raise ValueError(
                    f"{path} holds a secret key shorter than {MIN_SECRET_BYTES} bytes; "
                    "delete the file to have a new one made"
                )
        if len(self.secret_key.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"the secret key must be at least {MIN_SECRET_BYTES} bytes "
                "(ECOPATROL_SECRET_KEY; e.g. python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _driver(cls, value: str | None) -> str | None:
        """Plain ``postgresql://`` URLs use psycopg 3, the driver the package installs."""
        if value and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @property
    def db_url(self) -> str:
        return self.database_url or default_url(self.data_dir)

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def flights_dir(self) -> Path:
        return self.data_dir / "flights"


def get_settings() -> Settings:
    """Settings from the environment (read when called, never at import)."""
    return Settings()
