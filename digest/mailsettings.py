"""The settings of sending mail: the SMTP relay, the From lines and rates, DKIM
signing, and the bounce mailbox. Part of :class:`digest.settings.Settings`."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\Z")


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(default="localhost", description="SMTP server host name.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    security: Literal["starttls", "ssl", "plain"] = Field(
        default="starttls", description="Connection security: STARTTLS, implicit TLS, or none."
    )
    username: str | None = Field(default=None, description="Login name, if the server needs one.")
    password: SecretStr | None = Field(default=None, description="Login password (secret).")
    timeout: float = Field(default=30.0, gt=0, description="Seconds before an SMTP call times out.")


class MailSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mailer: Literal["maildir", "smtp"] = Field(
        default="maildir", description="Where digests go: a local Maildir outbox, or SMTP."
    )
    from_address: str = Field(
        default="digest@localhost", description="Envelope and From address of every message."
    )
    from_name: str = Field(
        default="digest",
        description="Display name in the From header, and the list's name in List-Id.",
    )
    link_from_address: str | None = Field(
        default=None,
        description="From address of confirmation and manage-link mail (default: from_address).",
    )
    link_from_name: str | None = Field(
        default=None, description="Display name of that mail (default: from_name)."
    )
    bounce_address: str | None = Field(
        default=None,
        description="Where bounces go: every message's envelope sender is this address "
        "with the reader's signed token after a '+' (bounces+TOKEN@example.org). "
        "Default: the From address, and bounces name no reader.",
    )
    list_id: str = Field(
        default="daily.digest.localhost",
        description="The List-Id identifier (RFC 2919), after the list's name.",
    )
    retries: int = Field(default=3, ge=0, description="Retries after a temporary (4xx) SMTP reply.")
    retry_backoff: float = Field(
        default=2.0, ge=0, description="First delay in seconds after a 4xx; doubles each retry."
    )
    send_empty: bool = Field(
        default=False, description="Send a digest even on a day with no matching papers."
    )
    rate_limit: int | None = Field(
        default=None,
        ge=1,
        description="Messages per rate_window through the relay, all workers together "
        "(none: as fast as it takes them).",
    )
    domain_limits: dict[str, int] = Field(
        default_factory=dict,
        description="Messages per rate_window to a receiving domain, all workers together, "
        'e.g. {"gmail.com" = 1000}; a digest over the limit waits, never skipped.',
    )
    rate_window: int = Field(
        default=60, ge=1, description="Seconds over which rate_limit and domain_limits count."
    )

    @field_validator("bounce_address", "link_from_address")
    @classmethod
    def _plain_address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.match(value):
            raise ValueError("must be a plain address such as bounces@example.org")
        return value


class DkimSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key_file: Path | None = Field(
        default=None,
        description="PEM private key (RSA or Ed25519) that signs every message with DKIM; "
        "none: messages go unsigned. `digest init --dkim` writes one.",
    )
    selector: str = Field(
        default="digest",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]*$",
        description="DKIM selector: the public key is published at <selector>._domainkey.<domain>.",
    )
    domain: str | None = Field(
        default=None, description="Signing domain (d=); default: the From address's domain."
    )


class BounceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    maildir: Path | None = Field(
        default=None,
        description="The Maildir that mail to mail.bounce_address is delivered into; "
        "every run reads its bounces and complaints before planning.",
    )
    imap_host: str | None = Field(
        default=None,
        description="Or an IMAP server holding that mail: its host (neither: not read).",
    )
    imap_port: int | None = Field(
        default=None, ge=1, le=65535, description="IMAP port (default: 993, or 143 without ssl)."
    )
    imap_security: Literal["ssl", "starttls", "plain"] = Field(
        default="ssl", description="IMAP connection security: implicit TLS, STARTTLS, or none."
    )
    imap_username: str | None = Field(default=None, description="IMAP login name.")
    imap_password: SecretStr | None = Field(default=None, description="IMAP password (secret).")
    imap_folder: str = Field(default="INBOX", description="The IMAP folder to read.")
    soft_limit: int = Field(
        default=3,
        ge=1,
        description="Soft bounces (mailbox full, server busy) within soft_days that "
        "suppress an address; a hard bounce or a complaint suppresses at once.",
    )
    soft_days: int = Field(default=14, ge=1, description="The window soft bounces count in.")

    @model_validator(mode="after")
    def _one_mailbox(self) -> BounceSettings:
        if self.maildir is not None and self.imap_host is not None:
            raise ValueError("set bounces.maildir or bounces.imap_host, not both")
        return self

    @property
    def configured(self) -> bool:
        return self.maildir is not None or self.imap_host is not None
