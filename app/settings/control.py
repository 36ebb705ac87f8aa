"""The control plane: the control topic, the admin token that signs its commands, their age."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from app.settings.base import Scope, check_topic_name

__all__ = ["ControlSettings"]


class ControlSettings(Scope):
    """Who may change what is served (HTTP admin, control commands) and where commands go."""

    control_topic: str = ""
    """Topic every worker listens to for model commands (``{"model": name, "action":
    "reload" | "rollback" | "canary" | "promote" | "abort", "arg", "ts": unix seconds, "sig":
    HMAC}``), so one message changes the whole deployment; the rollout commands on it are the
    deployment's rollout state, which workers read back when they start. Default
    ``<APP_ID>.control``: one per deployment, so a rollout never reaches another deployment
    on the same cluster. Only commands signed with ADMIN_TOKEN are obeyed."""

    admin_token: SecretStr | None = None
    """Shared secret for everything that changes what is served: HTTP ``POST /models/...``
    needs ``Authorization: Bearer <token>``, control-topic commands an HMAC under it. Unset
    (and no ADMIN_TOKEN_FILE): admin is disabled (403; control commands ignored)."""

    admin_token_file: Path | None = None
    """A file holding ADMIN_TOKEN (a mounted Kubernetes secret); surrounding whitespace is
    ignored. Set one of the two, not both."""

    control_max_age_s: float = Field(default=300.0, gt=0)
    """A signed control command older (or further in the future) than this is ignored: a
    recorded command cannot be replayed later. Keep workers' clocks in sync (NTP)."""

    @field_validator("admin_token")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("empty; allowed: a non-empty secret, or leave it unset")
        return value

    @field_validator("admin_token_file")
    @classmethod
    def _check_admin_token_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            try:
                token = value.read_text().strip()
            except OSError as exc:
                raise ValueError(f"cannot read it ({exc.strerror}); allowed: a readable "
                                 "file holding the admin token") from None  # fmt: skip
            if not token:
                raise ValueError("the file is empty; allowed: a file holding the admin token")
        return value

    @model_validator(mode="before")
    @classmethod
    def _control_topic_of_the_app(cls, data: object) -> object:
        if isinstance(data, dict) and not data.get("control_topic"):
            app_id = data.get("app_id") or "streamrec"
            try:
                check_topic_name(app_id)
            except ValueError:  # refused as STREAMREC_APP_ID: not twice
                app_id = "streamrec"
            data["control_topic"] = f"{app_id}.control"
        return data

    @field_validator("control_topic")
    @classmethod
    def _control_topic_name(cls, value: str) -> str:
        return check_topic_name(value)

    @model_validator(mode="after")
    def _one_admin_token(self) -> Self:
        if self.admin_token is not None and self.admin_token_file is not None:
            raise ValueError("STREAMREC_ADMIN_TOKEN and STREAMREC_ADMIN_TOKEN_FILE are both set; "
                             "allowed: one of them")  # fmt: skip
        return self

    @property
    def admin_secret(self) -> str | None:
        """The admin token (from ADMIN_TOKEN or ADMIN_TOKEN_FILE), or None: admin disabled."""
        if self.admin_token is not None:
            return self.admin_token.get_secret_value().strip()
        if self.admin_token_file is not None:
            return self.admin_token_file.read_text().strip()
        return None

    @property
    def evidence_topic(self) -> str:
        """Where workers report their arms' live figures for the automatic rollout."""
        return self.control_topic + ".evidence"
