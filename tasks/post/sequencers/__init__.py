"""One adapter per sequencer behind the `Sequencer` protocol (tasks/post/sequencers/base.py)."""

from __future__ import annotations

from tasks.core.config import Config
from tasks.core.errors import ConfigError
from tasks.post.sequencers.base import Sequencer

SEQUENCERS = ("hubspot", "salesforce")


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
    raise ConfigError(
        f"sequencer: '{config.sequencer}' is not supported; use one of {', '.join(SEQUENCERS)}")
