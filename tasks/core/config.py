"""seqguard.yml: which CRMs to sync, the sequencer, delays and thresholds.

Credentials never live in the file: it names environment variables or Prefect Secret
blocks, read only where a client is built. With no file, seqguard talks to the sandbox.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from tasks.core import redact
from tasks.core.columns import ColumnSettings, CustomColumn, PropertyName, custom_columns
from tasks.core.errors import ConfigError
from tasks.core.user_files import UserFileError, load_yaml, printable, read_text, shown

SANDBOX_HUBSPOT_TOKEN = "sandbox-token"
SANDBOX_SALESFORCE_SESSION = "sandbox-session"
DEFAULT_SANDBOX_CERT = "data/sandbox/cert.pem"
# how long after a rule or ruleset edit is first seen it takes effect (DESIGN "Semantics")
DEFAULT_PROPAGATION_DELAY = timedelta(minutes=30)
# the slowest built-in rule took 0.5 s at 1M people (bench/rules.py); 10 s leaves a
# twentyfold margin and still bounds a cycle of thirty stalled rules to five minutes
DEFAULT_RULE_TIMEOUT = timedelta(seconds=10)
# sequencers with people of their own: their API's root URL and credential variable
SEQUENCER_DEFAULTS = {
    "outreach": ("https://api.outreach.io", "SEQGUARD_OUTREACH_TOKEN"),
    "salesloft": ("https://api.salesloft.com", "SEQGUARD_SALESLOFT_TOKEN"),
    "apollo": ("https://api.apollo.io", "SEQGUARD_APOLLO_API_KEY"),
}


@dataclass(frozen=True)
class Credential:
    """Where a secret comes from: an environment variable or a Prefect Secret block."""

    env: str | None = None
    secret_block: str | None = None
    literal: str | None = None  # only the sandbox's public fake tokens

    def resolve(self, setting: str) -> str:
        """The secret's value, remembered so that no output carries it (tasks/core/redact.py)."""
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
class SequencerConfig:
    """A sequencer with people of its own (Outreach, Salesloft, Apollo)."""

    url: str
    token: Credential  # OAuth access token or API key, by the vendor's documented auth
    ca_cert: str | None = None
    # who sends when a change names nobody: the email of an Outreach mailbox, a Salesloft
    # user or an Apollo email account
    sender: str | None = None
    # requests per the vendor's documented window (the adapter knows the window); None:
    # the documented default; 0: no limit (a sandbox with limits off)
    rate_limit: int | None = None


def default_sequencer_config(name: str) -> SequencerConfig:
    url, env = SEQUENCER_DEFAULTS[name]
    return SequencerConfig(url=url, token=Credential(env=env))


@dataclass(frozen=True)
class Config:
    hubspot: HubSpotConfig | None = None
    salesforce: SalesforceConfig | None = None
    sequencer: str = "hubspot"  # hubspot | salesforce | outreach | salesloft | apollo
    # settings of the sequencers with people of their own, by name (SEQUENCER_DEFAULTS)
    sequencers: dict[str, SequencerConfig] = field(default_factory=dict)
    propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY
    # how long one rule or play audience may run before it is stopped and fails closed
    rule_timeout: timedelta = DEFAULT_RULE_TIMEOUT
    unenroll_threshold_pct: float = 20.0
    unenroll_threshold_count: int = 500
    # the share only counts from this many people up: 2 of 5 is 40%, but no emergency
    unenroll_threshold_min: int = 10
    timezone: str = "UTC"
    # custom contact properties that become extra crm.people columns
    people_properties: list[str] = field(default_factory=list)
    # the inbox a manual enroll or a recovery sends from when the person has no owner
    # (and no --sender is given); HubSpot enrolls only on behalf of a connected inbox
    default_sender: str | None = None
    # extra crm.* columns and the CRM properties feeding them (tasks/core/columns.py)
    columns: tuple[CustomColumn, ...] = ()
    is_sandbox: bool = False

    @property
    def custom_columns(self) -> tuple[CustomColumn, ...]:
        """`columns:` and the older `people_properties`, as crm.* columns."""
        return self.columns + custom_columns(None, [
            p for p in self.people_properties
            if ("people", p.lower()) not in {(c.table, c.name) for c in self.columns}])

    def sequencer_config(self, name: str) -> SequencerConfig:
        """`name`'s settings: seqguard.yml's block, else the vendor's defaults."""
        return self.sequencers.get(name) or default_sequencer_config(name)


def sandbox_config(url: str, cert: str | Path, settings: Config | None = None) -> Config:
    """The configuration for the local sandbox: both CRMs and every sequencer at one URL,
    fake tokens; every other setting (rate limits, senders, delays, thresholds) from
    `settings`, e.g. seqguard.yml."""
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
        # every sequencer of its own at the same URL, each with its sandbox credential
        sequencers={
            name: replace(settings.sequencer_config(name), url=url,
                          token=Credential(literal=f"sandbox-{name}"), ca_cert=cert)
            for name in SEQUENCER_DEFAULTS
        },
        is_sandbox=True,
    )


def parse_duration(value: Any, setting: str) -> timedelta:
    """'30m', '2h', '0', 45 (minutes) -> timedelta; never negative."""
    text = str(value).strip().lower()
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    try:
        if text[-1] in units:
            duration = timedelta(**{units[text[-1]]: float(text[:-1])})
        else:
            duration = timedelta(minutes=float(text))
    except (ValueError, IndexError, OverflowError) as exc:
        raise ConfigError(
            f"{setting}: '{shown(value)}' is not a duration; write e.g. 30m, 2h or 0"
        ) from exc
    if duration < timedelta(0):
        raise ConfigError(f"{setting}: '{shown(value)}' is negative; write 0 or more, e.g. 30m")
    return duration


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value, "duration")
    except ConfigError:
        raise ValueError("is not a duration of 0 or more; write e.g. 30m, 2h or 0") from None


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ValueError, KeyError):  # a malformed key, or one the tz database lacks
        raise ValueError("is not a time zone; write an IANA name, e.g. UTC or "
                         "Europe/Berlin") from None
    return value


def _address(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value.strip()):
        raise ValueError("is not an email address; write the address of an inbox connected "
                         "to the sequencer, e.g. default_sender: sales@acme.com")
    return value.strip().lower()


Duration = Annotated[timedelta, BeforeValidator(_duration)]
# the name of an environment variable, never the secret itself
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Count = Annotated[int, Field(ge=0)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HubSpotSettings(_Settings):
    url: str = HubSpotConfig.url
    token_env: EnvName = "SEQGUARD_HUBSPOT_TOKEN"
    secret_block: str | None = None
    ca_cert: str | None = None
    properties: dict[str, list[str]] = Field(default_factory=dict)
    user_id: str | int | None = None
    rate_limit_per_10s: Count | None = None


class SalesforceSettings(_Settings):
    url: str = ""
    session_env: EnvName = "SEQGUARD_SALESFORCE_SESSION"
    secret_block: str | None = None
    ca_cert: str | None = None
    api_version: str | float = "59.0"
    fields: dict[str, list[str]] = Field(default_factory=dict)
    rate_limit_per_10s: Count | None = None


class CrmSettings(_Settings):
    hubspot: HubSpotSettings | None = None
    salesforce: SalesforceSettings | None = None


class SequencerSettings(_Settings):
    """One sequencer with people of its own; unset keys take the vendor's defaults."""

    url: str | None = None
    token_env: EnvName | None = None
    secret_block: str | None = None
    ca_cert: str | None = None
    sender: str | None = None
    rate_limit: Count | None = None

    def config(self, name: str) -> SequencerConfig:
        url, env = SEQUENCER_DEFAULTS[name]
        return SequencerConfig(
            url=self.url or url,
            token=Credential(env=self.token_env or env, secret_block=self.secret_block),
            ca_cert=self.ca_cert, sender=self.sender, rate_limit=self.rate_limit)


class SequencersSettings(_Settings):
    outreach: SequencerSettings | None = None
    salesloft: SequencerSettings | None = None
    apollo: SequencerSettings | None = None


class SettingsFile(_Settings):
    """seqguard.yml as written: every key, its type and its range, checked once."""

    crms: CrmSettings | None = None
    sequencer: Literal["hubspot", "salesforce", "outreach", "salesloft", "apollo"] = "hubspot"
    sequencers: SequencersSettings | None = None
    propagation_delay: Duration = DEFAULT_PROPAGATION_DELAY
    rule_timeout: Annotated[Duration, Field(gt=timedelta(0))] = DEFAULT_RULE_TIMEOUT
    unenroll_threshold_pct: Annotated[float, Field(ge=0, le=100)] = 20.0
    unenroll_threshold_count: Count = 500
    unenroll_threshold_min: Count = 10
    timezone: Annotated[str, AfterValidator(_time_zone)] = "UTC"
    people_properties: list[PropertyName] = Field(default_factory=list)
    default_sender: Annotated[str, AfterValidator(_address)] | None = None
    columns: ColumnSettings | None = None


# how to write each setting, for the error line (keyed by the setting's own name)
EXAMPLES = {
    "crms": "crms: {hubspot: {token_env: SEQGUARD_HUBSPOT_TOKEN}}",
    "hubspot": "hubspot: {token_env: SEQGUARD_HUBSPOT_TOKEN}",
    "salesforce": "salesforce: {url: https://acme.my.salesforce.com}",
    "token_env": "token_env: SEQGUARD_HUBSPOT_TOKEN (the variable's name, not the token)",
    "session_env": "session_env: SEQGUARD_SALESFORCE_SESSION (the variable's name, not the "
                   "session id)",
    "properties": "properties: {contacts: [product_interest]}",
    "user_id": "user_id: '12345678' (the HubSpot user the Sequences API acts as)",
    "fields": "fields: {Contact: [Segment__c]}",
    "sequencers": "sequencers: {outreach: {token_env: SEQGUARD_OUTREACH_TOKEN, "
                  "sender: rep@acme.com}}",
    "sender": "sender: rep@acme.com (the mailbox or user that sends when a play names none)",
    "rate_limit": "rate_limit: 10000 (requests per the vendor's documented window)",
    "sequencer": "sequencer: hubspot",
    "propagation_delay": "propagation_delay: 30m",
    "rule_timeout": "rule_timeout: 10s",
    "unenroll_threshold_pct": "unenroll_threshold_pct: 20",
    "unenroll_threshold_count": "unenroll_threshold_count: 500",
    "unenroll_threshold_min": "unenroll_threshold_min: 10",
    "rate_limit_per_10s": "rate_limit_per_10s: 100",
    "timezone": "timezone: Europe/Berlin",
    "people_properties": "people_properties: [product_interest]",
    "columns": "columns: {people: {job_title: {hubspot: jobtitle, salesforce: Title}}}",
    "people": "people: {job_title: {hubspot: jobtitle, salesforce: Title}}",
    "companies": "companies: {industry: {hubspot: industry, salesforce: Industry}}",
    "opportunities": "opportunities: {deal_type: {hubspot: dealtype, salesforce: Type}}",
    "api_version": "api_version: '59.0'",
    "default_sender": "default_sender: sales@acme.com (an inbox connected to the sequencer)",
}
# settings people write for what `columns:` does
MEANT = {"company_properties": "columns.companies", "companies_properties": "columns.companies",
         "contact_properties": "columns.people", "deal_properties": "columns.opportunities",
         "opportunity_properties": "columns.opportunities"}
EXPECTED = {  # pydantic's error type -> what the value should have been
    "dict_type": "a mapping (key: value)", "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)", "list_type": "a list",
    "string_type": "text", "float_type": "a number", "float_parsing": "a number",
    "int_type": "a whole number", "int_parsing": "a whole number",
    "int_from_float": "a whole number", "finite_number": "a finite number",
    "string_pattern_mismatch": "a plain name (letters, digits and _)",
}


def settings_at(loc: tuple) -> list[str]:
    """The keys valid at a place in seqguard.yml (a mapping's own keys are the user's)."""
    model: Any = SettingsFile
    parts = list(loc)
    while parts and model is not None:
        annotation = model.model_fields[parts.pop(0)].annotation if isinstance(
            model, type) and issubclass(model, BaseModel) else model
        model = _settings_model(annotation)
        if isinstance(model, tuple):  # dict[name, Model]: the next part is the user's name
            parts = parts[1:]
            model = model[0]
    return sorted(model.model_fields) if isinstance(model, type) else []


def _settings_model(annotation: Any) -> Any:
    """The settings class an annotation holds (Model, Model | None), or (Model,) for a
    dict of them; None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = get_args(annotation)
    if get_origin(annotation) is dict and args:
        inner = _settings_model(args[-1])
        return (inner,) if inner is not None else None
    return next((found for arg in args if (found := _settings_model(arg)) is not None), None)


def _setting_error(error: dict[str, Any], display: str, lines: dict[tuple, int]) -> str:
    """One line for pydantic's first error: file:line: key: what is wrong; how to write it.
    The value itself is never repeated (a token pasted into the wrong key stays unprinted)."""
    loc = tuple(error["loc"])
    # the deepest part of the location the file has (pydantic adds union members' names)
    where = next((loc[:n] for n in range(len(loc), 0, -1) if loc[:n] in lines), loc)
    name = shown(".".join(str(k) for k in where))
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "extra_forbidden":
        valid = settings_at(loc[:-1])
        near = ([MEANT[loc[-1]]] if len(loc) == 1 and loc[-1] in MEANT
                else difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6))
        hint = (f"did you mean '{near[0]}'?" if near
                else f"the settings here are {', '.join(valid)}")
        return (f"{display}:{lines.get(where, 1)}: unknown setting '{name}'; {hint} (every "
                "setting is listed in README's Configuration)")
    if kind == "value_error":
        what = str(ctx.get("error", "is not valid"))
    elif kind == "literal_error":
        what = f"must be {ctx.get('expected')}"
    elif kind == "greater_than":
        what = "must be more than 0"
    elif kind in ("greater_than_equal", "less_than_equal"):
        what = (f"must be at least {ctx['ge']:g}" if "ge" in ctx
                else f"must be at most {ctx['le']:g}")
    else:
        what = f"must be {EXPECTED.get(kind, 'something else')}"
    example = next((EXAMPLES[k] for k in reversed(loc) if isinstance(k, str) and k in EXAMPLES),
                   None)
    if example and "write" not in what:
        what += f"; write e.g. {example}"
    return f"{display}:{lines.get(where, 1)}: {name} {what}"


def load_config(project_dir: str | Path) -> Config | None:
    """Read `seqguard.yml` from the project folder; None when there is no file.

    The file is read like every user file (tasks/core/user_files.py) and checked whole before
    anything uses it: a wrong key, type or range is one line naming the key and the fix.
    """
    path = Path(project_dir) / "seqguard.yml"
    if not path.exists() and not path.is_symlink():
        return None
    display = printable(str(path))
    try:
        raw, lines = load_yaml(read_text(path, display, [Path(project_dir)]), display)
    except UserFileError as exc:
        raise ConfigError(str(exc)) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{display}:1: expected a mapping of settings at the top level "
                          "(sequencer: hubspot, crms: {...}, ...)")
    try:
        settings = SettingsFile.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_setting_error(exc.errors()[0], display, lines)) from None
    crms = settings.crms or CrmSettings()
    hubspot, salesforce = crms.hubspot, crms.salesforce
    return Config(
        hubspot=HubSpotConfig(
            url=hubspot.url,
            token=Credential(env=hubspot.token_env, secret_block=hubspot.secret_block),
            ca_cert=hubspot.ca_cert,
            properties=hubspot.properties,
            user_id=None if hubspot.user_id is None else str(hubspot.user_id),
            rate_limit_per_10s=hubspot.rate_limit_per_10s,
        )
        if hubspot
        else None,
        salesforce=SalesforceConfig(
            url=salesforce.url,
            session=Credential(env=salesforce.session_env,
                               secret_block=salesforce.secret_block),
            ca_cert=salesforce.ca_cert,
            api_version=str(salesforce.api_version),
            fields=salesforce.fields,
            rate_limit_per_10s=salesforce.rate_limit_per_10s,
        )
        if salesforce
        else None,
        sequencer=settings.sequencer,
        sequencers={name: block.config(name)
                    for name, block in (settings.sequencers or SequencersSettings())
                    if block is not None},
        propagation_delay=settings.propagation_delay,
        rule_timeout=settings.rule_timeout,
        unenroll_threshold_pct=settings.unenroll_threshold_pct,
        unenroll_threshold_count=settings.unenroll_threshold_count,
        unenroll_threshold_min=settings.unenroll_threshold_min,
        timezone=settings.timezone,
        people_properties=settings.people_properties,
        default_sender=settings.default_sender,
        columns=custom_columns(settings.columns, []),
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
