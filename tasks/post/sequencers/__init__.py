"""One adapter per sequencer behind the `Sequencer` protocol (tasks/post/sequencers/base.py)."""

from __future__ import annotations

import importlib

from tasks.core.config import Config
from tasks.core.errors import ConfigError
from tasks.post.sequencers.base import Sequencer

# sequencers with people of their own: name -> "module:class" under tasks.post.sequencers,
# built from `config.sequencer_config(name)` (the adapter takes it and an optional limiter)
OWN_PEOPLE_ADAPTERS = {
    "outreach": "outreach:OutreachSequencer",
    "salesloft": "salesloft:SalesloftSequencer",
    "apollo": "apollo:ApolloSequencer",
}
SEQUENCERS = ("hubspot", "salesforce", *OWN_PEOPLE_ADAPTERS)
NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce", "outreach": "Outreach",
         "salesloft": "Salesloft", "apollo": "Apollo"}
# what each documented API allows (README, "What each sequencer can do"): an enrollment
# that starts at a given step (Salesforce's assign action, Salesloft's step_id), and a
# read of the step a person has reached (HubSpot and Apollo report none)
STARTS_MID_SEQUENCE = frozenset({"salesforce", "salesloft"})
REPORTS_STEP = frozenset({"salesforce", "salesloft", "outreach"})


def sequencer_for(config: Config) -> Sequencer:
    """The adapter for `config.sequencer`, built from that CRM's settings and credential."""
    if config.sequencer == "hubspot":
        if config.hubspot is None:
            raise ConfigError("sequencer: hubspot needs a crms.hubspot section in seqguard.yml")
        from tasks.post.sequencers.hubspot import HubSpotSequencer

        return HubSpotSequencer(config.hubspot)
    if config.sequencer == "salesforce":
        if config.salesforce is None:
            raise ConfigError(
                "sequencer: salesforce needs a crms.salesforce section in seqguard.yml")
        from tasks.post.sequencers.salesforce import SalesforceSequencer

        return SalesforceSequencer(config.salesforce)
    if config.sequencer in OWN_PEOPLE_ADAPTERS:
        module, _, name = OWN_PEOPLE_ADAPTERS[config.sequencer].partition(":")
        adapter = getattr(importlib.import_module(f"tasks.post.sequencers.{module}"), name)
        return adapter(config.sequencer_config(config.sequencer))  # type: ignore[no-any-return]
    raise ConfigError(
        f"sequencer: '{config.sequencer}' is not supported; use one of {', '.join(SEQUENCERS)}")
