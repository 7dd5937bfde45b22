"""Settings from the environment (prefix CSMAP_), with safe refusals outside demo mode."""

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contexts.errors import InvalidInput
from mapping.disclosure import DisclosurePolicy
from mapping.places.profile import LinkRule

DEFAULT_SECRET_KEY = "csmap-demo-secret-key-change-me-before-real-use"
DEFAULT_DEMO_PASSWORD = "demo-password-2026"


class InsecureSettings(RuntimeError):
    """The settings would be unsafe outside demo mode."""


class Settings(BaseSettings):
    """Everything that differs between deployments."""

    model_config = SettingsConfigDict(env_prefix="CSMAP_", extra="ignore")

    database_url: str = Field(
        default="postgresql+psycopg://csmap_app@/csmap",
        validation_alias=AliasChoices("DATABASE_URL", "CSMAP_DATABASE_URL"),
        description="Where the app connects, as the least-privileged app role.",
    )
    migration_database_url: str | None = Field(
        default=None, description="Owner role used by migrations; defaults to database_url."
    )
    app_db_role: str = Field(
        default="csmap_app",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="Database role the migrations grant the app's privileges to.",
    )
    secret_key: str = DEFAULT_SECRET_KEY
    demo_mode: bool = False
    demo_password: str = DEFAULT_DEMO_PASSWORD
    protective_marking: str = "OFFICIAL-SENSITIVE"
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_absolute_hours: int = Field(default=8, ge=1, le=24)
    token_minutes: int = Field(default=60, ge=1, le=24 * 60)
    lockout_threshold: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    request_threads: int = Field(
        default=2,
        ge=1,
        le=200,
        description=(
            "Requests served at once per worker process (each holds a database connection); the rest "
            "queue. Few threads and a worker per core serve more: threads of one process take turns "
            "at the interpreter lock, and each turn handed back after a database wait costs time."
        ),
    )
    force_https: bool = Field(
        default=False, description="Treat every request as https (cookies Secure, HSTS)."
    )
    log_level: str = "INFO"
    area_bbox: tuple[float, float, float, float] = Field(
        default=(-6.5, 49.8, 2.0, 55.9),
        description="Deployment area as [min lon, min lat, max lon, max lat] (default England and Wales).",
    )
    risk_categories: list[str] = Field(
        default=["at risk", "significant risk", "serious risk"],
        description="Local risk categories a practitioner may choose (never computed).",
    )
    language_rules_file: Path | None = Field(
        default=None, description="An administrator's extra language rules (JSON), added to the shipped ones."
    )
    disclosure_threshold: int = Field(
        default=8, description="Partner outputs hide counts below this (docs/disclosure.md)."
    )
    disclosure_rounding: int = Field(
        default=5, description="Partner outputs round shown counts to a multiple of this."
    )
    link_radius_m: float = Field(
        default=150.0, gt=0, le=2000, description="Linked by place: concerns this near a place (m)."
    )
    link_days: int = Field(default=90, ge=1, le=730, description="Linked by place: the window, in days.")
    link_minimum: int = Field(
        default=3, ge=2, le=100, description="Linked by place: this many young people linked raise an alert."
    )

    @field_validator("disclosure_rounding")
    @classmethod
    def _disclosure_is_safe(cls, rounding: int, info: ValidationInfo) -> int:
        """Refuse at start-up a threshold and rounding under which nested views could reveal a count."""
        threshold = info.data.get("disclosure_threshold")
        if threshold is None:
            return rounding
        try:
            DisclosurePolicy(threshold=threshold, rounding_base=rounding)
        except InvalidInput as refused:
            raise ValueError(refused.detail) from refused
        return rounding

    def disclosure_policy(self) -> DisclosurePolicy:
        """The disclosure rules every partner output passes through."""
        return DisclosurePolicy(threshold=self.disclosure_threshold, rounding_base=self.disclosure_rounding)

    def link_rule(self) -> LinkRule:
        """When young people count as linked by place (Working Together)."""
        return LinkRule(radius_m=self.link_radius_m, days=self.link_days, minimum=self.link_minimum)

    @property
    def owner_database_url(self) -> str:
        """The URL migrations run with."""
        return self.migration_database_url or self.database_url

    def refuse_if_insecure(self) -> None:
        """Raise unless the settings are safe to serve real data with."""
        if self.demo_mode:
            return
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            raise InsecureSettings(
                "Set CSMAP_SECRET_KEY to a random value of at least 32 characters "
                "(or CSMAP_DEMO_MODE=true for the fictional demo)."
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the settings once per process."""
    return Settings()
