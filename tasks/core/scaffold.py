"""`seqguard init DIR`: a starter project folder, apart from the installed code.

The example rule, list, play, rulesets and domain aliases are copied from the `sql`
package's data (the files seqguard's own repository runs with); seqguard.yml is written
with every setting at its default and the CRMs' credentials named, never given.
"""

from __future__ import annotations

from pathlib import Path

from tasks.core.errors import ConfigError
from tasks.core.resources import OWN_SQL

# the example project inside the sql package, by path under sql/
EXAMPLE_FILES = (
    "exclusions/do_not_contact.sql",
    "exclusions/lists/do_not_contact.csv",
    "plays/webinar_followup.yml",
    "plays/webinar_followup.sql",
    "rulesets.yml",
    "domain_aliases.csv",
)

STARTER_SETTINGS = """\
# seqguard's settings for this account (README "Configuration"). Credentials never go
# in this file: name the environment variables (or Prefect Secret blocks) holding them.
crms:
  hubspot: {token_env: SEQGUARD_HUBSPOT_TOKEN}
  # salesforce: {url: "https://acme.my.salesforce.com", session_env: SEQGUARD_SALESFORCE_SESSION}
sequencer: hubspot            # where enrollment changes are posted: hubspot | salesforce
propagation_delay: 30m        # a new or edited rule takes effect this long after it is seen
rule_timeout: 10s             # a rule running longer is stopped and fails closed
unenroll_threshold_pct: 20    # a run unenrolling more than this share ...
unenroll_threshold_count: 500 # ... or more people than this waits for approval
unenroll_threshold_min: 10    # the share only counts from this many people
"""


def scaffold(folder: str | Path) -> list[Path]:
    """Write a starter project into `folder` (created if missing) and return the files
    written. A folder that already holds seqguard.yml or sql/ is refused, untouched."""
    root = Path(folder)
    taken = [name for name in ("seqguard.yml", "sql") if (root / name).exists()]
    if taken:
        raise ConfigError(f"{root} already holds {' and '.join(taken)}: seqguard init writes "
                          "a new project; pick an empty folder (nothing was changed)")
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file: seqguard init needs a folder to write into")
    written = []
    for name in EXAMPLE_FILES:
        target = root / "sql" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((OWN_SQL / name).read_bytes())
        written.append(target)
    settings = root / "seqguard.yml"
    settings.write_text(STARTER_SETTINGS)
    return [settings, *written]
