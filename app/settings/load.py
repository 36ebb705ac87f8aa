"""All the scopes as one ``Settings``, read once from the environment (prefix ``STREAMREC_``).

Each field's docstring is the configuration reference; the tables in docs/configuration.md
mirror them, one per scope. The names are a public contract: keep them stable.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Self

from pydantic import ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.errors import InvalidSettings
from app.settings.base import ENV_PREFIX
from app.settings.cache import CacheSettings
from app.settings.control import ControlSettings
from app.settings.kafka import KafkaSettings
from app.settings.kafka_security import KafkaSecuritySettings
from app.settings.lifecycle import LifecycleSettings
from app.settings.model import ModelSettings
from app.settings.pipeline import PipelineSettings
from app.settings.retrieval import RetrievalSettings
from app.settings.rollout import RolloutSettings
from app.settings.sinks import SinkSettings
from app.settings.store import StoreSettings
from app.settings.topics import TopicSettings
from app.settings.trending import TrendingSettings
from app.settings.web import WebSettings

__all__ = ["SECRET_FIELDS", "Settings", "get_settings", "load_settings"]

logger = logging.getLogger(__name__)

# Never echoed back, not even in an error about them.
SECRET_FIELDS = frozenset({"admin_token", "kafka_sasl_password", "kafka_ssl_key_password"})


class Settings(  # pydantic takes the last base's fields first: Kafka's lead
    LifecycleSettings,
    WebSettings,
    StoreSettings,
    TrendingSettings,
    SinkSettings,
    CacheSettings,
    ControlSettings,
    RolloutSettings,
    RetrievalSettings,
    ModelSettings,
    PipelineSettings,
    TopicSettings,
    KafkaSecuritySettings,
    KafkaSettings,
    BaseSettings,
):
    """streamrec settings; every field is ``STREAMREC_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, use_attribute_docstrings=True, extra="ignore"
    )

    @model_validator(mode="after")
    def _auto_rollout_signs(self) -> Self:
        if self.auto_rollout and self.admin_token is None and self.admin_token_file is None:
            raise ValueError("STREAMREC_AUTO_ROLLOUT=true needs STREAMREC_ADMIN_TOKEN (or "
                             "STREAMREC_ADMIN_TOKEN_FILE): its decisions are signed")  # fmt: skip
        return self


def _allowed(name: str) -> str:
    """What a numeric or boolean field accepts, from its type and bounds."""
    field = Settings.model_fields[name]
    kind = {int: "an integer", float: "a number", bool: "true or false"}.get(
        field.annotation,  # type: ignore[arg-type]
        "",
    )
    bounds = {}
    for rule in field.metadata:
        for attr in ("ge", "gt", "le", "lt"):
            if getattr(rule, attr, None) is not None:
                bounds[attr] = getattr(rule, attr)
    if "ge" in bounds and "le" in bounds:
        return f"{kind} from {bounds['ge']} to {bounds['le']}"
    ops = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " ".join([kind, " and ".join(f"{ops[a]} {v}" for a, v in bounds.items())]).strip()


def _problems(exc: ValidationError) -> list[str]:
    """One line per bad variable: its name, the value given and what is allowed."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        allowed = _allowed(name) if name in Settings.model_fields else ""
        if allowed and "allowed:" not in message:
            message += f"; allowed: {allowed}"
        value = "'***'" if name in SECRET_FIELDS else repr(error["input"])
        if not name:  # a rule across settings: the message names them
            lines.append(message)
            continue
        lines.append(f"{ENV_PREFIX}{name.upper()}={value}: {message}")
    return lines


def load_settings() -> Settings:
    """Settings from the environment, or InvalidSettings naming every bad variable."""
    unknown = sorted(
        key for key in os.environ
        if key.upper().startswith(ENV_PREFIX)
        and key[len(ENV_PREFIX):].lower() not in Settings.model_fields
    )  # fmt: skip
    for key in unknown:
        logger.warning("%s is not a streamrec setting: ignored (see docs/configuration.md)", key)
    try:
        return Settings()
    except ValidationError as exc:
        raise InvalidSettings(_problems(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return load_settings()
