"""seqguard.yml: which CRMs to sync, the sequencer, delays and thresholds.

Credentials never live in the file: it names environment variables or Prefect Secret
blocks, read only where a client is built. With no file, seqguard talks to the sandbox.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tasks import redact
from tasks.errors import ConfigError
from tasks.rule_budget import DEFAULT_RULE_TIMEOUT

SANDBOX_HUBSPOT_TOKEN = "sandbox-token"
SANDBOX_SALESFORCE_SESSION = "sandbox-session"
DEFAULT_SANDBOX_CERT = "data/sandbox/cert.pem"


@dataclass(frozen=True)
class Credential:
    """Where a secret comes from: an environment variable or a Prefect Secret block."""

    env: str | None = None
    secret_block: str | None = None
    literal: str | None = None  # only the sandbox's public fake tokens

    def resolve(self, setting: str) -> str:
        """The secret's value, remembered so that no output carries it (tasks/redact.py)."""
        if self.literal is not None:
            return redact.remember(self.literal)
        if self.env and os.environ.get(self.env):
            return redact.remember(os.environ[self.env])
        if self.secret_block:
            from prefect.blocks.system import Secret

            try:
                return redact.remember(str(Secret.load(self.secret_block).get()))
            except ValueError as exc:
                raise ConfigError(
                    f"{setting}: Prefect Secret block '{self.secret_block}' not found; "
                    "create it in the Prefect UI or set the environment variable"
                ) from exc
        raise ConfigError(
            f"{setting}: no credential; set the environment variable {self.env}"
            + (
                f" or create the Prefect Secret block '{self.secret_block}'"
                if self.secret_block
                else ""
            )
        )


@dataclass(frozen=True)
class HubSpotConfig:
    url: str = "https://api.hubapi.com"
    token: Credential = field(default_factory=lambda: Credential(env="SEQGUARD_HUBSPOT_TOKEN"))
    ca_cert: str | None = None
    # extra (custom) properties to pull per object, beyond the defaults in settings.py
    properties: dict[str, list[str]] = field(default_factory=dict)
    user_id: str | None = None  # the HubSpot user the Sequences API acts as
    rate_limit_per_10s: int | None = None  # None: HubSpot's private-app 100; 0: no limit


@dataclass(frozen=True)
class SalesforceConfig:
    url: str = ""
    session: Credential = field(
        default_factory=lambda: Credential(env="SEQGUARD_SALESFORCE_SESSION")
    )
    ca_cert: str | None = None
    api_version: str = "59.0"
    fields: dict[str, list[str]] = field(default_factory=dict)
    rate_limit_per_10s: int | None = None  # 0: no limit


@dataclass(frozen=True)
class Config:
    hubspot: HubSpotConfig | None = None
    salesforce: SalesforceConfig | None = None
    sequencer: str = "hubspot"  # hubspot | salesforce
    propagation_delay: timedelta = timedelta(minutes=30)
    # how long one rule or play audience may run before it is stopped and fails closed
    rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT
    unenroll_threshold_pct: float = 20.0
    unenroll_threshold_count: int = 500
    # the share only counts from this many people up: 2 of 5 is 40%, but no emergency
    unenroll_threshold_min: int = 10
    batch_size: int = 200
    timezone: str = "UTC"
    # custom contact properties that become extra crm.people columns
    people_properties: list[str] = field(default_factory=list)
    is_sandbox: bool = False


def sandbox_config(url: str, cert: str | Path, settings: Config | None = None) -> Config:
    """The configuration for the local sandbox: both CRMs at one URL, fake tokens; every
    other setting (rate limits, delays, thresholds) from `settings`, e.g. seqguard.yml."""
    cert = str(cert)
    settings = settings or Config()
    return replace(
        settings,
        hubspot=replace(
            settings.hubspot or HubSpotConfig(),
            url=url, token=Credential(literal=SANDBOX_HUBSPOT_TOKEN), ca_cert=cert,
        ),
        salesforce=replace(
            settings.salesforce or SalesforceConfig(),
            url=url, session=Credential(literal=SANDBOX_SALESFORCE_SESSION), ca_cert=cert,
        ),
        is_sandbox=True,
    )


def parse_duration(value: Any, setting: str) -> timedelta:
    """'30m', '2h', '0', 45 (minutes) -> timedelta."""
    text = str(value).strip().lower()
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    try:
        if text[-1] in units:
            return timedelta(**{units[text[-1]]: float(text[:-1])})
        return timedelta(minutes=float(text))
    except (ValueError, IndexError) as exc:
        raise ConfigError(
            f"{setting}: '{value}' is not a duration; write e.g. 30m, 2h or 0"
        ) from exc


def _credential(raw: dict[str, Any], env_default: str) -> Credential:
    return Credential(
        env=raw.get("token_env", raw.get("session_env", env_default)),
        secret_block=raw.get("secret_block"),
    )


def _rule_timeout(raw: dict[str, Any]) -> timedelta:
    if "rule_timeout" not in raw:
        return DEFAULT_RULE_TIMEOUT
    budget = parse_duration(raw["rule_timeout"], "rule_timeout")
    if budget <= timedelta(0):
        raise ConfigError(f"rule_timeout: '{raw['rule_timeout']}' leaves no time to run a "
                          "rule; write e.g. 10s or 1m")
    return budget


def load_config(project_dir: str | Path) -> Config | None:
    """Read `seqguard.yml` from the project folder; None when there is no file."""
    path = Path(project_dir) / "seqguard.yml"
    if not path.exists():
        return None
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML ({exc}); fix the syntax") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    crms = raw.get("crms", {}) or {}
    hubspot = crms.get("hubspot")
    salesforce = crms.get("salesforce")
    return Config(
        hubspot=HubSpotConfig(
            url=hubspot.get("url", HubSpotConfig.url),
            token=_credential(hubspot, "SEQGUARD_HUBSPOT_TOKEN"),
            ca_cert=hubspot.get("ca_cert"),
            properties=hubspot.get("properties", {}) or {},
            user_id=hubspot.get("user_id"),
            rate_limit_per_10s=hubspot.get("rate_limit_per_10s"),
        )
        if hubspot
        else None,
        salesforce=SalesforceConfig(
            url=salesforce.get("url", ""),
            session=_credential(salesforce, "SEQGUARD_SALESFORCE_SESSION"),
            ca_cert=salesforce.get("ca_cert"),
            api_version=str(salesforce.get("api_version", "59.0")),
            fields=salesforce.get("fields", {}) or {},
            rate_limit_per_10s=salesforce.get("rate_limit_per_10s"),
        )
        if salesforce
        else None,
        sequencer=raw.get("sequencer", "hubspot"),
        propagation_delay=parse_duration(raw.get("propagation_delay", "30m"), "propagation_delay"),
        rule_timeout=_rule_timeout(raw),
        unenroll_threshold_pct=float(raw.get("unenroll_threshold_pct", 20)),
        unenroll_threshold_count=int(raw.get("unenroll_threshold_count", 500)),
        unenroll_threshold_min=int(raw.get("unenroll_threshold_min", 10)),
        batch_size=int(raw.get("batch_size", 200)),
        timezone=raw.get("timezone", "UTC"),
        people_properties=list(raw.get("people_properties", []) or []),
    )


def resolve_config(
    project_dir: str | Path, sandbox_url: str | None = None, sandbox_cert: str | None = None
) -> Config:
    """The run's configuration: seqguard.yml, with both CRMs at the sandbox when a URL
    is given (then the file is optional)."""
    if sandbox_url:
        cert = sandbox_cert or DEFAULT_SANDBOX_CERT
        if not Path(cert).exists():
            raise ConfigError(
                f"sandbox certificate {cert} not found; pass --sandbox-cert with the path "
                "`seqguard sandbox` printed (or set SEQGUARD_SANDBOX_CERT)"
            )
        return sandbox_config(sandbox_url, cert, load_config(project_dir))
    config = load_config(project_dir)
    if config is None:
        raise ConfigError(
            f"no seqguard.yml in {Path(project_dir).resolve()}; create one, or pass --sandbox URL"
        )
    return config
