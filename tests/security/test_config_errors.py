"""seqguard.yml mistakes are one line naming the file, line, key and the fix, exit 2;
never an AttributeError, never an 8-line YAML dump, never the value (a token pasted into
the wrong key stays unprinted) (issue 14, item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main
from tasks.core.config import load_config, sandbox_config
from tasks.core.errors import ConfigError
from tests.security.conftest import SECRET


def settings(tmp_path: Path, text: str) -> Path:
    (tmp_path / "seqguard.yml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("text, message", [
    ("crms: [hubspot, salesforce]\n",
     "seqguard.yml:1: crms must be a mapping (key: value); write e.g. crms: {hubspot: "
     "{token_env: SEQGUARD_HUBSPOT_TOKEN}}"),
    ("sequencer: hubspot\nunenroll_threshold_pct: twenty\n",
     "seqguard.yml:2: unenroll_threshold_pct must be a number; write e.g. "
     "unenroll_threshold_pct: 20"),
    ("unenroll_threshold_pct: 250\n",
     "seqguard.yml:1: unenroll_threshold_pct must be at most 100; write e.g. "
     "unenroll_threshold_pct: 20"),
    ("crms:\n  hubspot: {tokn_env: HS}\n",
     "seqguard.yml:2: unknown setting 'crms.hubspot.tokn_env'; did you mean 'token_env'? "
     "(every setting is listed in README's Configuration)"),
    ("propagaton_delay: 30m\n",
     "seqguard.yml:1: unknown setting 'propagaton_delay'; did you mean 'propagation_delay'? "
     "(every setting is listed in README's Configuration)"),
    ("company_properties: [industry]\n",
     "seqguard.yml:1: unknown setting 'company_properties'; did you mean 'columns.companies'? "
     "(every setting is listed in README's Configuration)"),
    ("columns:\n  people:\n    job_title: {hubspt: jobtitle}\n",
     "seqguard.yml:3: unknown setting 'columns.people.job_title.hubspt'; did you mean "
     "'hubspot'? (every setting is listed in README's Configuration)"),
    ("crms:\n  hubspot: {zzz: 1}\n",
     "seqguard.yml:2: unknown setting 'crms.hubspot.zzz'; the settings here are ca_cert, "
     "properties, rate_limit_per_10s, secret_block, token_env, url, user_id (every setting "
     "is listed in README's Configuration)"),
    ("columns:\n  people:\n    Job-Title: {hubspot: jobtitle}\n",
     "seqguard.yml:3: columns.people.Job-Title must be a plain name (letters, digits and _); "
     "write e.g. people: {job_title: {hubspot: jobtitle, salesforce: Title}}"),
    ("crms:\n  hubspot: on\n",
     "seqguard.yml:2: crms.hubspot must be a mapping (key: value); write e.g. hubspot: "
     "{token_env: SEQGUARD_HUBSPOT_TOKEN}"),
    ("sequencer: mailchimp\n",
     "seqguard.yml:1: sequencer must be 'hubspot', 'salesforce', 'outreach', 'salesloft' or "
     "'apollo'; write e.g. sequencer: hubspot"),
    ("sequencers:\n  outreach: {token: abc}\n",
     "seqguard.yml:2: unknown setting 'sequencers.outreach.token'; did you mean "
     "'token_env'? (every setting is listed in README's Configuration)"),
    ("sequencers:\n  outreach: {rate_limit: -5}\n",
     "seqguard.yml:2: sequencers.outreach.rate_limit must be at least 0; write e.g. "
     "rate_limit: 10000 (requests per the vendor's documented window)"),
    ("propagation_delay: -30m\n",
     "seqguard.yml:1: propagation_delay is not a duration of 0 or more; write e.g. 30m, 2h "
     "or 0"),
    ("propagation_delay: 1e300d\n",
     "seqguard.yml:1: propagation_delay is not a duration of 0 or more; write e.g. 30m, 2h "
     "or 0"),
    ("unenroll_threshold_count: 2.5\n",
     "seqguard.yml:1: unenroll_threshold_count must be a whole number; write e.g. "
     "unenroll_threshold_count: 500"),
    ("people_properties: product_interest\n",
     "seqguard.yml:1: people_properties must be a list; write e.g. people_properties: "
     "[product_interest]"),
    ("timezone: Mars/Olympus\n",
     "seqguard.yml:1: timezone is not a time zone; write an IANA name, e.g. UTC or "
     "Europe/Berlin"),
    ("crms:\n  hubspot: [unclosed\n",
     "seqguard.yml:3: not valid YAML (expected ',' or ']', but got '<stream end>'); fix the "
     "syntax (indentation, quotes, colons)"),
    ("- sequencer\n",
     "seqguard.yml:1: expected a mapping of settings at the top level (sequencer: hubspot, "
     "crms: {...}, ...)"),
])
def test_a_wrong_setting_is_one_line_naming_key_and_fix(tmp_path: Path, text: str,
                                                        message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(settings(tmp_path, text))
    assert str(error.value) == f"{tmp_path}/{message}"


def test_the_cli_prints_one_line_and_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture) -> None:
    settings(tmp_path, "crms:\n  hubspot:\n    url: [x\n    token_env: HS\n")
    assert main(["cycle", "--db", str(tmp_path / "db.duckdb"), "--project", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"seqguard cycle: {tmp_path}/seqguard.yml:4: ")


def test_a_token_pasted_into_token_env_is_not_printed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(settings(tmp_path, f"crms:\n  hubspot:\n    token_env: {SECRET}\n"))
    assert SECRET not in str(error.value)
    assert str(error.value).endswith(
        "seqguard.yml:3: crms.hubspot.token_env must be a plain name (letters, digits and _); "
        "write e.g. token_env: SEQGUARD_HUBSPOT_TOKEN (the variable's name, not the token)")


def test_a_seqguard_yml_linked_out_of_the_project_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.yml"
    outside.write_text(f"# {SECRET}\nsequencer: [\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "seqguard.yml").symlink_to(outside)
    with pytest.raises(ConfigError) as error:
        load_config(project)
    assert str(error.value) == (f"{project}/seqguard.yml:1: is a link to a file outside the "
                                "project; seqguard does not follow it: copy the file into the "
                                "project")


def test_a_sequencer_of_its_own_is_configured_by_its_block(tmp_path: Path) -> None:
    config = load_config(settings(tmp_path, (
        "sequencer: outreach\nsequencers:\n  outreach: {token_env: OR_TOKEN, "
        "sender: rep@acme.test, rate_limit: 9000}\n  apollo: {secret_block: apollo-key}\n")))
    assert config is not None and config.sequencer == "outreach"
    outreach = config.sequencer_config("outreach")
    assert (outreach.url, outreach.token.env, outreach.sender, outreach.rate_limit) == (
        "https://api.outreach.io", "OR_TOKEN", "rep@acme.test", 9000)
    apollo = config.sequencer_config("apollo")
    assert (apollo.token.env, apollo.token.secret_block) == ("SEQGUARD_APOLLO_API_KEY",
                                                             "apollo-key")
    salesloft = config.sequencer_config("salesloft")  # no block: the vendor's defaults
    assert (salesloft.url, salesloft.token.env) == ("https://api.salesloft.com",
                                                    "SEQGUARD_SALESLOFT_TOKEN")
    sandboxed = sandbox_config("https://127.0.0.1:9", "cert.pem", config)
    assert {n: (c.url, c.token.literal, c.sender) for n, c in sandboxed.sequencers.items()} == {
        "outreach": ("https://127.0.0.1:9", "sandbox-outreach", "rep@acme.test"),
        "salesloft": ("https://127.0.0.1:9", "sandbox-salesloft", None),
        "apollo": ("https://127.0.0.1:9", "sandbox-apollo", None)}


def test_good_settings_still_load(tmp_path: Path) -> None:
    config = load_config(settings(tmp_path, (
        "crms:\n  hubspot: {token_env: HS, user_id: 4711, rate_limit_per_10s: 0}\n"
        "  salesforce: {url: 'https://acme.my.salesforce.com', api_version: 60.0}\n"
        "sequencer: salesforce\npropagation_delay: 0\nunenroll_threshold_pct: 12.5\n"
        "timezone: Europe/Berlin\npeople_properties: [tier]\n")))
    assert config is not None and config.hubspot is not None and config.salesforce is not None
    assert (config.hubspot.token.env, config.hubspot.user_id, config.hubspot.rate_limit_per_10s,
            config.salesforce.api_version, config.sequencer, config.propagation_delay.seconds,
            config.unenroll_threshold_pct, config.timezone, config.people_properties) == (
        "HS", "4711", 0, "60.0", "salesforce", 0, 12.5, "Europe/Berlin", ["tier"])
