"""The independent oracle: who must not have been sent each sequence step, and why.

Written apart from seqguard on purpose: it imports nothing from tasks/ or flows/, never
reads sql/model, sql/decide or a rule's SQL body, and uses no SQL at all. It reads

- the sandbox's ground truth: its tables (`/_sandbox/table/{name}`) at the start of a
  run and at the end, the event log of every change made since (`sb_events`, in the
  order it was written), the enrollments and the steps the sequencer sent;
- the project's rule file HEADERS, `rulesets.yml`, the plays' YAML, the uploaded lists
  and `domain_aliases.csv`, plus the churn's log of edits to them, of the enrollments
  reps made by hand at the sequencer, and of the manual unenrolls a user asked for;

and recomputes in plain Python, from DESIGN's semantics and the built-in rule list, the
time intervals during which each enrolled person was excluded. From those it reports:

- wrongful sends: a step sent while the person had been excluded (by a rule that
  removes enrolled people from that sequence) for longer than the grace (one cycle),
  plus every step of an enrollment seqguard made while the person was blocked;
- wrongful removals: an unenroll nobody asked for by hand and no rule justified within
  the grace before it;
- latency: from the start of the exclusion (or the enrollment, if later) to the unenroll.

HubSpot unenrolls happen later than seqguard's decision: seqguard writes it onto the
contact (`seqguard_unenroll_sequence`, `seqguard_unenroll_at`: the sandbox's event log
holds each write) and the account's workflow acts `unenroll_lag` later, or never (None).
The oracle judges with that in mind: a step due after seqguard wrote the unenroll within
the grace, and no later than the lag after it (any time, with no workflow), was the
workflow's to stop, not seqguard's; a removal is justified by an exclusion in force
within the grace plus the lag before it; a manual unenroll takes effect up to the lag
after it was asked for.

Propagation is modelled, not forgiven: an edited rule or ruleset is in force from the
edit time + `propagation_delay` (the previous version until then), and the grace after
that is one cycle, as for any data change.

Semantics (DESIGN "Semantics" and the built-in list), and the oracle's reading of the
raw CRM shapes where DESIGN is silent:

- a person is a normalized email (trimmed, lower case); their records are the HubSpot
  contacts, Salesforce Contacts and Leads with that email. An email or meeting is with
  the person its address names: their own address, or one of their HubSpot additional
  emails when it is nobody's own (an email from a personal alias is that person writing,
  for every rule, so a colleague's alias reply counts as the colleague's);
- a company is a group of normalized domains (no scheme, no `www.`, no path, lower
  case) joined by a company's additional domains and `domain_aliases.csv`; duplicates
  fall together because they share a normalized domain. A person belongs to the groups
  of their email's domain (unless a free-mail domain), their associated HubSpot
  companies, their Contact's Account website and their Lead's website, and (for a
  free-mail address) their HubSpot contact's website;
- replied: an inbound email (HubSpot INCOMING_EMAIL; a completed Salesforce email Task
  whose subject is a reply, `Re:`) with the person, not out-of-office, not a bounce, not
  sent by a sequence, in the last 90 days; emailed_us: the same, told by the sender
  address being the person's email or one of their HubSpot additional emails;
  colleague_replied: someone else in one of the person's company groups replied (on
  only where the ruleset says `colleague_reply: true` or lists it);
- out-of-office: subject "Automatic reply" / "Out of office" / "Autoreply", or headers
  `Auto-Submitted` (any value but `no`), `X-Autoreply`, `X-Autorespond`;
- meeting_booked: a HubSpot meeting with the person (associated or attendee) or a
  Salesforce Event on their Contact/Lead, held in the last 90 days or still to come;
- unsubscribed / bounced: any of the person's records opted out / marked bad (HubSpot
  `hs_email_optout`, `hs_email_bad_address`; Salesforce `HasOptedOutOfEmail`,
  `EmailBouncedReason`/`EmailBouncedDate`), or a bounced email to them;
- open_opportunity: a HubSpot deal not in closedwon/closedlost associated to a company
  of the group (a deal with no company that has a domain: to a contact of the group), or
  a Salesforce Opportunity not Closed Won/Lost on an Account of it (an Account's domain
  is its website's or, with no website, its Contacts' email domains);
- lifecycle_customer: the person's HubSpot contact, or a HubSpot company of their
  group, has lifecycle stage `customer`;
- recent_manual_email: an outbound email by hand (not a sequence's, not bounced) with
  the person 15 to 90 days ago;
- a list rule (company level, `lists/<rule>.csv` beside it): every person whose group
  holds a listed domain.

Simplifications, stated so a reader can judge a finding: identities (a contact's email,
a company's domains, an Account's website) are taken as time-invariant (the churn does
not change them); everything else (flags, stages, lifecycle, records created or
archived, associations) is versioned by the event log.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

BEGINNING = datetime(1970, 1, 1)
END = datetime(2200, 1, 1)
CYCLE = timedelta(minutes=15)
WINDOW_90 = timedelta(days=90)
BUFFER_15 = timedelta(days=15)

# the tables the oracle reads, snapshotted at the start of a run and again at its end
TRUTH_TABLES = (
    "hs_contacts", "hs_companies", "hs_deals", "hs_emails", "hs_meetings", "hs_associations",
    "sf_account", "sf_contact", "sf_lead", "sf_opportunity", "sf_task", "sf_event",
)
FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
    "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net",
    "web.de", "mail.com", "yandex.ru",
})
CLOSED_DEAL_STAGES = frozenset({"closedwon", "closedlost"})
CLOSED_OPPORTUNITY_STAGES = frozenset({"closed won", "closed lost"})
OOO_SUBJECT = re.compile(r"automatic reply|out of (the )?office|auto-?reply|autoreply", re.I)
OOO_HEADERS = ("x-autoreply", "x-autorespond")
REPLY_SUBJECT = re.compile(r"^\s*(email:\s*)?(re|aw|sv)\s*:", re.I)

Interval = tuple[datetime, datetime]


class TruthSource(Protocol):
    """What the oracle needs from a sandbox (sandbox.client.SandboxClient fits)."""

    url: str
    http: Any  # a requests.Session that trusts the sandbox's certificate

    def table(self, name: str) -> list[dict]: ...


# ---- values ----------------------------------------------------------------------------


@lru_cache(maxsize=200_000)
def _parse_text(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    if text.isdigit():  # HubSpot also takes epoch milliseconds
        return datetime.fromtimestamp(int(text) / 1000, UTC).replace(tzinfo=None)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def parse_time(value: Any) -> datetime | None:
    """Any time the sandbox serves (ISO with Z or offset, a date, epoch ms) as naive UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    return _parse_text(str(value))


def norm_email(value: Any) -> str | None:
    text = str(value).strip().lower() if value is not None else ""
    return text or None


def norm_domain(value: Any) -> str | None:
    """'https://WWW.Acme.com/about' -> 'acme.com'; an email's part after '@' too."""
    if value is None:
        return None
    text = str(value).strip().lower()
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text)
    text = text.split("/")[0].split("?")[0].split("#")[0].split("@")[-1].split(":")[0]
    text = text.strip(".")
    if text.startswith("www."):
        text = text[4:]
    return text or None


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return norm_domain(email.rsplit("@", 1)[1])


def split_list(value: Any) -> list[str]:
    """HubSpot's ';'-joined multi values (also tolerating commas)."""
    if value in (None, ""):
        return []
    return [part.strip() for part in re.split(r"[;,]", str(value)) if part.strip()]


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def filled(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def is_out_of_office(subject: Any, headers: Any) -> bool:
    """An automatic reply, told by its subject or its headers (DESIGN's sandbox note)."""
    if subject and OOO_SUBJECT.search(str(subject)):
        return True
    if not headers:
        return False
    try:
        parsed = json.loads(headers) if isinstance(headers, str) else headers
    except ValueError:
        parsed = {}
    if not isinstance(parsed, dict):
        return False
    lowered = {str(k).strip().lower(): str(v).strip().lower() for k, v in parsed.items()}
    submitted = lowered.get("auto-submitted")
    if submitted is not None and submitted != "no":
        return True
    return any(name in lowered for name in OOO_HEADERS)


# ---- intervals -------------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Overlapping or touching intervals joined; empty ones dropped; sorted."""
    merged: list[list[datetime]] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def clip(interval: Interval, start: datetime, end: datetime) -> Interval:
    return max(interval[0], start), min(interval[1], end)


def covering(intervals: list[Interval], moment: datetime) -> Interval | None:
    """The merged interval that holds `moment` (start inclusive, end exclusive)."""
    for start, end in intervals:
        if start <= moment < end:
            return start, end
    return None


def overlapping(intervals: list[Interval], start: datetime, end: datetime) -> Interval | None:
    """The last interval that meets [start, end] (closed), if any."""
    found = None
    for a, b in intervals:
        if a <= end and b > start:
            found = (a, b)
    return found


# ---- the project's files ---------------------------------------------------------------


def read_header(text: str) -> dict[str, str]:
    """The `-- key: value` lines at the top of a rule file (trailing `-- notes` cut)."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("--"):
            break
        match = re.match(r"--\s*([a-z_]+)\s*:\s*(.*)$", stripped)
        if match:
            header[match.group(1)] = re.split(r"\s+--", match.group(2))[0].strip()
    return header


@dataclass(frozen=True)
class RuleHeader:
    name: str
    level: str
    exclude_from_sequences: bool
    remove_enrolled: bool
    enabled: bool

    @classmethod
    def parse(cls, text: str, fallback_name: str) -> RuleHeader:
        header = read_header(text)
        return cls(
            name=header.get("rule", fallback_name),
            level=header.get("level", "contact"),
            exclude_from_sequences=truthy(header.get("exclude_from_sequences", "false")),
            remove_enrolled=truthy(header.get("remove_enrolled", "false")),
            enabled=truthy(header.get("enabled", "true")),
        )


@dataclass
class Project:
    """What the oracle reads of a project folder: rule headers, rulesets, plays, lists."""

    rules: dict[str, RuleHeader]            # rule name -> header
    rule_paths: dict[str, str]              # relative path -> rule name
    rulesets: dict[str, Any]
    plays: dict[str, dict[str, Any]]        # sequence (name or id) -> play settings
    lists: dict[str, list[str]]             # list name -> normalized domains
    list_emails: dict[str, list[str]]       # list name -> normalized emails
    aliases: list[tuple[str, str]]          # (domain, alias) from domain_aliases.csv


def _sql_dir(project_dir: Path) -> Path:
    return project_dir / "sql" if (project_dir / "sql").is_dir() else project_dir


def read_project(project_dir: str | Path) -> Project:
    """Read the project's rule headers (never their bodies), rulesets, plays and lists."""
    root = Path(project_dir)
    sql = _sql_dir(root)
    rules: dict[str, RuleHeader] = {}
    paths: dict[str, str] = {}
    for path in sorted((sql / "exclusions").rglob("*.sql")):
        # only the header lines: the oracle must not learn a rule's SQL
        head = "\n".join(_header_lines(path.read_text()))
        rule = RuleHeader.parse(head, path.stem)
        rules[rule.name] = rule
        paths[str(path.relative_to(root))] = rule.name
    rulesets_path = sql / "rulesets.yml"
    rulesets = yaml.safe_load(rulesets_path.read_text()) if rulesets_path.exists() else {}
    plays: dict[str, dict[str, Any]] = {}
    for path in sorted((sql / "plays").glob("*.yml")):
        play = yaml.safe_load(path.read_text()) or {}
        if play.get("sequence") is not None:
            plays[str(play["sequence"])] = play
    lists: dict[str, list[str]] = {}
    list_emails: dict[str, list[str]] = {}
    for path in sorted((sql / "exclusions" / "lists").glob("*.csv")):
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        lists[path.stem] = [d for r in rows if (d := norm_domain(r.get("company_domain")))]
        list_emails[path.stem] = [e for r in rows if (e := norm_email(r.get("email")))]
    aliases: list[tuple[str, str]] = []
    alias_path = sql / "domain_aliases.csv"
    if alias_path.exists():
        with alias_path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                if str(next(iter(row.values()), "") or "").lstrip().startswith("#"):
                    continue  # a comment line
                values = [norm_domain(v) for v in row.values() if isinstance(v, str)]
                present = [v for v in values if v]
                aliases += [(present[0], other) for other in present[1:]]
    return Project(rules, paths, rulesets or {}, plays, lists, list_emails, aliases)


def _header_lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.strip() and not line.strip().startswith("--"):
            return
        yield line


# ---- ground truth with history ---------------------------------------------------------


@dataclass
class Truth:
    """The sandbox's tables at the start and the end of a run, and what happened between."""

    start: dict[str, list[dict]]
    final: dict[str, list[dict]]
    events: list[dict]
    enrollments: list[dict]
    sent: list[dict]
    sequences: list[dict]


def snapshot(source: TruthSource, tables: Iterable[str] = TRUTH_TABLES) -> dict[str, list[dict]]:
    """The oracle's tables as they are now (take one before the run starts)."""
    return {name: read_table(source, name) for name in tables}


# Salesforce sObjects by table, for reading a table through the sandbox's own REST API
SOBJECTS = {"sf_account": "Account", "sf_contact": "Contact", "sf_lead": "Lead",
            "sf_opportunity": "Opportunity", "sf_task": "Task", "sf_event": "Event"}


def read_table(source: TruthSource, name: str) -> list[dict]:
    """One sandbox table. `/_sandbox/table` cannot serve date columns yet (a date is not
    JSON to it), so a Salesforce table it refuses is read with `queryAll`, every field."""
    try:
        return source.table(name)
    except RuntimeError:
        if name not in SOBJECTS:
            raise
        return salesforce_rows(source, SOBJECTS[name])


def _get(source: TruthSource, url: str, params: dict | None = None) -> dict:
    """GET JSON; once more on a dropped connection (the server closes one after a 500)."""
    headers = {"Authorization": "Bearer sandbox-session"}
    for attempt in (1, 2):
        try:
            response = source.http.get(url, params=params, headers=headers, timeout=600)
            response.raise_for_status()
            return response.json()
        except OSError:  # requests' ConnectionError is one
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def salesforce_rows(source: TruthSource, sobject: str, version: str = "59.0") -> list[dict]:
    """Every record of an sObject, deleted ones too, through the sandbox's REST API."""
    base = f"{source.url}/services/data/v{version}"
    fields = [f["name"] for f in _get(source, f"{base}/sobjects/{sobject}/describe")["fields"]]
    page = _get(source, f"{base}/queryAll",
                {"q": f"SELECT {', '.join(fields)} FROM {sobject}"})
    rows = list(page["records"])
    while page.get("nextRecordsUrl"):
        page = _get(source, source.url + page["nextRecordsUrl"])
        rows += page["records"]
    for row in rows:
        row.pop("attributes", None)
    return rows


def collect(source: TruthSource, start: dict[str, list[dict]]) -> Truth:
    """Everything the oracle judges by, read at the end of a run."""
    return Truth(
        start=start,
        final=snapshot(source),
        events=source.table("sb_events"),  # insertion order: ties in time keep their order
        enrollments=source.table("sb_enrollments"),
        sent=source.table("sb_sent"),
        sequences=source.table("sb_sequences"),
    )


Version = tuple[datetime, dict]  # (valid from, record as of then)


@dataclass(frozen=True)
class Shape:
    """How one table's records are keyed and written in the event log."""

    table: str
    crm: str
    object: str
    key: str
    created: str
    deleted: str


SHAPES = {
    "hs_contacts": Shape("hs_contacts", "hubspot", "contacts", "id", "created_at", "archived"),
    "hs_companies": Shape("hs_companies", "hubspot", "companies", "id", "created_at", "archived"),
    "hs_deals": Shape("hs_deals", "hubspot", "deals", "id", "created_at", "archived"),
    "hs_emails": Shape("hs_emails", "hubspot", "emails", "id", "created_at", "archived"),
    "hs_meetings": Shape("hs_meetings", "hubspot", "meetings", "id", "created_at", "archived"),
    "sf_account": Shape("sf_account", "salesforce", "Account", "Id", "CreatedDate", "IsDeleted"),
    "sf_contact": Shape("sf_contact", "salesforce", "Contact", "Id", "CreatedDate", "IsDeleted"),
    "sf_lead": Shape("sf_lead", "salesforce", "Lead", "Id", "CreatedDate", "IsDeleted"),
    "sf_opportunity": Shape("sf_opportunity", "salesforce", "Opportunity", "Id", "CreatedDate",
                            "IsDeleted"),
    "sf_task": Shape("sf_task", "salesforce", "Task", "Id", "CreatedDate", "IsDeleted"),
    "sf_event": Shape("sf_event", "salesforce", "Event", "Id", "CreatedDate", "IsDeleted"),
}


def history(truth: Truth, shape: Shape) -> dict[str, list[Version]]:
    """Every version of every record of one table: the start snapshot, then each event's
    change applied in log order; records that appeared without an event (the sequencer's
    own emails and Tasks) count from their creation time."""
    versions: dict[str, list[Version]] = {
        str(row[shape.key]): [(BEGINNING, dict(row))] for row in truth.start.get(shape.table, [])
    }
    columns = _columns(truth, shape.table)
    for event in truth.events:
        if event["crm"] != shape.crm or event["object"] != shape.object:
            continue
        key = str(event["record_id"])
        when = parse_time(event["happened_at"]) or BEGINNING
        previous = versions[key][-1][1] if key in versions else {shape.key: event["record_id"]}
        current = dict(previous)
        current.update(_changes(event, shape, columns))
        chain = versions.setdefault(key, [])
        if chain and chain[-1][0] == when:
            chain[-1] = (when, current)  # two writes in one instant: the last one holds
        else:
            chain.append((when, current))
    for row in truth.final.get(shape.table, []):
        key = str(row[shape.key])
        if key not in versions:
            versions[key] = [(parse_time(row.get(shape.created)) or BEGINNING, dict(row))]
    return versions


def _columns(truth: Truth, table: str) -> dict[str, str]:
    """lower-case name -> column name, for Salesforce's case-insensitive field names."""
    rows = truth.final.get(table) or truth.start.get(table) or []
    return {name.lower(): name for name in (rows[0] if rows else {})}


def _changes(event: dict, shape: Shape, columns: dict[str, str]) -> dict[str, Any]:
    """The fields one logged write set (a delete sets the deleted flag)."""
    try:
        payload = json.loads(event["payload"]) if event.get("payload") else {}
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    changes: dict[str, Any] = {}
    if shape.crm == "hubspot":
        properties = payload.get("properties") or {}
        if isinstance(properties, dict):
            for name, value in properties.items():
                changes[str(name)] = _hubspot_text(value)
        if payload.get("archived") is not None:
            changes["archived"] = bool(payload["archived"])
    else:
        for name, value in payload.items():
            column = columns.get(str(name).lower(), str(name))
            if column != "attributes":
                changes[column] = value
    if event["action"] == "delete":
        changes[shape.deleted] = True
    return changes


def _hubspot_text(value: Any) -> Any:
    """A HubSpot property as the CRM stores it: text, booleans lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return None
    return value


def spans(chain: list[Version]) -> Iterator[tuple[datetime, datetime, dict]]:
    """(valid from, valid to, record) for each version of one record."""
    for i, (start, row) in enumerate(chain):
        end = chain[i + 1][0] if i + 1 < len(chain) else END
        if start < end:
            yield start, end, row


def associations(truth: Truth) -> dict[tuple[str, str], dict[str, dict[str, datetime]]]:
    """(from_type, to_type) -> from id -> to id -> when the pair was made (both ways)."""
    pairs: dict[tuple[str, str], dict[str, dict[str, datetime]]] = defaultdict(
        lambda: defaultdict(dict))

    def add(row: dict, when: datetime) -> None:
        a, b = (str(row["from_type"]), str(row["from_id"])), (str(row["to_type"]),
                                                               str(row["to_id"]))
        for (ta, ia), (tb, ib) in ((a, b), (b, a)):
            known = pairs[(ta, tb)][ia].get(ib)
            pairs[(ta, tb)][ia][ib] = when if known is None else min(known, when)

    for row in truth.start.get("hs_associations", []):
        add(row, BEGINNING)
    for event in truth.events:
        if event["crm"] == "hubspot" and event["object"] == "associations":
            add(json.loads(event["payload"]), parse_time(event["happened_at"]) or BEGINNING)
    for row in truth.final.get("hs_associations", []):
        add(row, BEGINNING)  # the sequencer's own, unlogged: older than any fact they join
    return pairs


# ---- the world: people, companies, engagements -----------------------------------------


class DomainGroups:
    """Union-find over normalized domains: a company's domains and its aliases."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, domain: str) -> str:
        root = domain
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(domain, domain) != root:  # path compression
            self.parent[domain], domain = root, self.parent[domain]
        return root

    def join(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


@dataclass
class Engagement:
    """One email or meeting, already tied to the people it is with."""

    kind: str                 # email | meeting
    direction: str | None     # inbound | outbound
    people: dict[str, datetime]  # the people it is with -> since when the CRM tied them
    sender: str | None        # normalized from-address
    occurred: datetime
    visible: Interval         # when the CRM held it
    is_ooo: bool = False
    is_bounce: bool = False
    by_sequence: bool = False
    label: str = ""


@dataclass
class World:
    """The ground truth indexed for the rules: versions, people, companies, engagements."""

    hs: dict[str, dict[str, list[Version]]]
    sf: dict[str, dict[str, list[Version]]]
    links: dict[tuple[str, str], dict[str, dict[str, datetime]]]
    groups: DomainGroups
    contact_email: dict[str, str]              # HubSpot contact id -> person
    sf_person: dict[str, str]                  # Salesforce Contact/Lead Id -> person
    person_groups: dict[str, set[str]]
    aliases_of: dict[str, set[str]]            # person -> their other addresses
    alias_owners: dict[str, set[str]]          # alias (nobody's own) -> who lists it
    company_domains: dict[str, set[str]]       # HubSpot company id -> domains
    account_domains: dict[str, set[str]]       # Account Id -> domains
    engagements: list[Engagement] = field(default_factory=list)

    def groups_of_domains(self, domains: Iterable[str]) -> set[str]:
        return {self.groups.find(d) for d in domains}


def build_world(truth: Truth, project: Project) -> World:
    """Index the ground truth once; every rule reads this."""
    hs = {name.removeprefix("hs_"): history(truth, SHAPES[name])
          for name in SHAPES if name.startswith("hs_")}
    sf = {name.removeprefix("sf_"): history(truth, SHAPES[name])
          for name in SHAPES if name.startswith("sf_")}
    links = associations(truth)
    groups = DomainGroups()
    company_domains = _company_domains(hs["companies"], groups)
    contact_email = {key: e for key, chain in hs["contacts"].items()
                     if (e := norm_email(chain[-1][1].get("email")))}
    sf_person = {key: e for table in ("contact", "lead") for key, chain in sf[table].items()
                 if (e := norm_email(chain[-1][1].get("Email")))}
    account_domains = _account_domains(sf, sf_person)
    for domains in account_domains.values():
        for domain in domains:
            groups.find(domain)
    for domain, alias in project.aliases:
        groups.join(domain, alias)
    world = World(hs, sf, links, groups, contact_email, sf_person, {}, {}, {},
                  company_domains, account_domains)
    world.person_groups = _person_groups(world)
    world.aliases_of = _aliases(world)
    world.alias_owners = _alias_owners(world)
    world.engagements = _hubspot_emails(world) + _hubspot_meetings(world) + _sf_activity(world)
    return world


def _company_domains(companies: dict[str, list[Version]],
                     groups: DomainGroups) -> dict[str, set[str]]:
    """Each HubSpot company's domains (any version), joined with its additional ones."""
    result: dict[str, set[str]] = {}
    for key, chain in companies.items():
        domains = {d for _, row in chain
                   for d in [norm_domain(row.get("domain"))]
                   + [norm_domain(x) for x in split_list(row.get("hs_additional_domains"))]
                   if d}
        result[key] = domains
        ordered = sorted(domains)
        for other in ordered:
            groups.find(other)
            groups.join(ordered[0], other)
    return result


def _account_domains(sf: dict[str, dict[str, list[Version]]],
                     sf_person: dict[str, str]) -> dict[str, set[str]]:
    """Each Account's domain: its website's; without one, its Contacts' email domains
    (a company's own people say where it is when nobody typed the website)."""
    from_contacts: dict[str, set[str]] = defaultdict(set)
    for key, chain in sf["contact"].items():
        account = chain[-1][1].get("AccountId")
        domain = email_domain(sf_person.get(key))
        if account and domain and domain not in FREE_MAIL:
            from_contacts[str(account)].add(domain)
    result: dict[str, set[str]] = {}
    for key, chain in sf["account"].items():
        website = norm_domain(chain[-1][1].get("Website"))
        result[key] = {website} if website else from_contacts.get(key, set())
    return result


def _person_groups(world: World) -> dict[str, set[str]]:
    """Each person's company groups: email domain, associated companies, Account, Lead."""
    domains: dict[str, set[str]] = defaultdict(set)
    for email in set(world.contact_email.values()) | set(world.sf_person.values()):
        d = email_domain(email)
        if d and d not in FREE_MAIL:
            domains[email].add(d)
    for contact, companies in world.links[("contacts", "companies")].items():
        email = world.contact_email.get(contact)
        if email:
            for company in companies:
                domains[email] |= world.company_domains.get(company, set())
    for key, chain in world.sf["contact"].items():
        account = chain[-1][1].get("AccountId")
        if key in world.sf_person and account:
            domains[world.sf_person[key]] |= world.account_domains.get(str(account), set())
    for key, chain in world.sf["lead"].items():
        d = norm_domain(chain[-1][1].get("Website"))
        if key in world.sf_person and d:
            domains[world.sf_person[key]].add(d)
    # a mailbox provider's address says nothing of the company; the contact's website does
    for key, chain in world.hs["contacts"].items():
        email = world.contact_email.get(key)
        d = norm_domain(chain[-1][1].get("website"))
        if email and d and d not in FREE_MAIL and email_domain(email) in FREE_MAIL:
            domains[email].add(d)
    return {email: world.groups_of_domains(ds) for email, ds in domains.items()}


def _aliases(world: World) -> dict[str, set[str]]:
    result: dict[str, set[str]] = defaultdict(set)
    for chain in world.hs["contacts"].values():
        for _, row in chain:
            email = norm_email(row.get("email"))
            if email:
                result[email] |= {a for x in split_list(row.get("hs_additional_emails"))
                                  if (a := norm_email(x))}
    return result


def _alias_owners(world: World) -> dict[str, set[str]]:
    """Each additional address that is nobody's own -> the people who list it."""
    own = set(world.contact_email.values()) | set(world.sf_person.values())
    owners: dict[str, set[str]] = defaultdict(set)
    for person, aliases in world.aliases_of.items():
        for alias in aliases - own:
            owners[alias].add(person)
    return owners


def _people_named(world: World, address: str | None) -> set[str]:
    """Whose an address is: the people it is an alias of, else its own."""
    if not address:
        return set()
    return world.alias_owners.get(address) or {address}


def _linked_people(world: World, object_type: str, key: str) -> dict[str, datetime]:
    """Person -> when an association tied this engagement to them."""
    people: dict[str, datetime] = {}
    for contact, when in world.links[(object_type, "contacts")].get(key, {}).items():
        email = world.contact_email.get(contact)
        if email:
            people[email] = min(when, people.get(email, END))
    return people


def _with_address(world: World, linked: dict[str, datetime],
                  address: str | None) -> dict[str, datetime]:
    """The associated people, plus the people the address names (tied from the start)."""
    return linked | dict.fromkeys(_people_named(world, address), BEGINNING)


def _hubspot_emails(world: World) -> list[Engagement]:
    found: list[Engagement] = []
    for key, chain in world.hs["emails"].items():
        linked = _linked_people(world, "emails", key)
        for start, end, row in spans(chain):
            if truthy(row.get("archived")):
                continue
            inbound = str(row.get("hs_email_direction") or "").upper() == "INCOMING_EMAIL"
            sender = norm_email(row.get("hs_email_from_email"))
            address = sender if inbound else norm_email(row.get("hs_email_to_email"))
            occurred = parse_time(row.get("hs_timestamp")) or parse_time(row.get("created_at"))
            found.append(Engagement(
                kind="email", direction="inbound" if inbound else "outbound",
                people=_with_address(world, linked, address), sender=sender,
                occurred=occurred or start, visible=(start, end),
                is_ooo=inbound and is_out_of_office(row.get("hs_email_subject"),
                                                    row.get("hs_email_headers")),
                is_bounce=str(row.get("hs_email_status") or "").upper() == "BOUNCED",
                by_sequence=filled(row.get("hs_sequence_id")),
                label=f"HubSpot email {key} '{row.get('hs_email_subject') or ''}'",
            ))
    return found


def _hubspot_meetings(world: World) -> list[Engagement]:
    found: list[Engagement] = []
    for key, chain in world.hs["meetings"].items():
        linked = _linked_people(world, "meetings", key)
        for start, end, row in spans(chain):
            if truthy(row.get("archived")):
                continue
            attendee = norm_email(row.get("hs_attendee_email"))
            occurred = parse_time(row.get("hs_timestamp")) or start
            found.append(Engagement(
                kind="meeting", direction=None,
                people=_with_address(world, linked, attendee), sender=None,
                occurred=occurred, visible=(start, end),
                label=f"HubSpot meeting {key} on {occurred:%Y-%m-%d %H:%M}",
            ))
    return found


def _sf_activity(world: World) -> list[Engagement]:
    """Salesforce email Tasks (completed) and Events, tied through WhoId."""
    found: list[Engagement] = []
    for key, chain in world.sf["task"].items():
        for start, end, row in spans(chain):
            person = world.sf_person.get(str(row.get("WhoId")))
            subtype = str(row.get("TaskSubtype") or row.get("Type") or "")
            # a cadence's own email: TaskSubtype 'Cadence' (Task has no cadence field)
            by_cadence = subtype == "Cadence"
            if by_cadence:
                subtype = str(row.get("Type") or "")
            if (truthy(row.get("IsDeleted")) or not person or subtype.lower() != "email"
                    or str(row.get("Status") or "") != "Completed"):
                continue
            subject = str(row.get("Subject") or "")
            ooo = is_out_of_office(subject, None)
            inbound = ooo or bool(REPLY_SUBJECT.match(subject))
            occurred = (parse_time(row.get("CompletedDateTime"))
                        or parse_time(row.get("ActivityDate")) or start)
            found.append(Engagement(
                kind="email", direction="inbound" if inbound else "outbound",
                people={person: BEGINNING},
                sender=person if inbound else None, occurred=occurred, visible=(start, end),
                is_ooo=ooo, by_sequence=by_cadence,
                label=f"Salesforce Task {key} '{subject}'",
            ))
    for key, chain in world.sf["event"].items():
        for start, end, row in spans(chain):
            person = world.sf_person.get(str(row.get("WhoId")))
            if truthy(row.get("IsDeleted")) or not person:
                continue
            occurred = parse_time(row.get("StartDateTime")) or start
            found.append(Engagement(
                kind="meeting", direction=None, people={person: BEGINNING}, sender=None,
                occurred=occurred, visible=(start, end),
                label=f"Salesforce Event {key} on {occurred:%Y-%m-%d %H:%M}",
            ))
    return found


# ---- facts: when each built-in rule matched each person --------------------------------

Facts = dict[str, list[tuple[datetime, datetime, str]]]  # person -> (start, end, reason)


def _add(facts: Facts, person: str, start: datetime, end: datetime, reason: str) -> None:
    if start < end:
        facts[person].append((start, end, reason))


def fact_unsubscribed(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for key, chain in world.hs["contacts"].items():
        for start, end, row in spans(chain):
            if not truthy(row.get("archived")) and truthy(row.get("hs_email_optout")):
                _add(facts, world.contact_email.get(key, ""), start, end,
                     f"HubSpot contact {key} opted out")
    for table in ("contact", "lead"):
        for key, chain in world.sf[table].items():
            for start, end, row in spans(chain):
                if not truthy(row.get("IsDeleted")) and truthy(row.get("HasOptedOutOfEmail")):
                    _add(facts, world.sf_person.get(key, ""), start, end,
                         f"Salesforce {table} {key} opted out")
    return facts


def fact_bounced(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for key, chain in world.hs["contacts"].items():
        for start, end, row in spans(chain):
            if not truthy(row.get("archived")) and truthy(row.get("hs_email_bad_address")):
                _add(facts, world.contact_email.get(key, ""), start, end,
                     f"HubSpot contact {key} bad address")
    for table in ("contact", "lead"):
        for key, chain in world.sf[table].items():
            for start, end, row in spans(chain):
                if not truthy(row.get("IsDeleted")) and (
                        filled(row.get("EmailBouncedReason"))
                        or filled(row.get("EmailBouncedDate"))):
                    _add(facts, world.sf_person.get(key, ""), start, end,
                         f"Salesforce {table} {key} bounced")
    for e in world.engagements:
        if e.kind == "email" and e.is_bounce:
            for person, tied in e.people.items():
                _add(facts, person, max(e.visible[0], e.occurred, tied), e.visible[1],
                     f"{e.label} bounced")
    return facts


def _replies(world: World) -> list[Engagement]:
    return [e for e in world.engagements
            if e.kind == "email" and e.direction == "inbound" and not e.is_ooo
            and not e.is_bounce and not e.by_sequence]


def _window(e: Engagement, after: timedelta, until: timedelta) -> Interval:
    """When `occurred + after <= t <= occurred + until` and the CRM held the record."""
    return max(e.visible[0], e.occurred + after), min(e.visible[1], e.occurred + until)


def fact_replied(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for e in _replies(world):
        start, end = _window(e, timedelta(0), WINDOW_90)
        for person, tied in e.people.items():
            _add(facts, person, max(start, tied), end, f"replied: {e.label}")
    return facts


def fact_emailed_us(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for e in _replies(world):
        if not e.sender:
            continue
        start, end = _window(e, timedelta(0), WINDOW_90)
        for person in _people_named(world, e.sender):
            _add(facts, person, start, end, f"emailed us from {e.sender}: {e.label}")
    return facts


def fact_colleague_replied(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    members: dict[str, set[str]] = defaultdict(set)
    for person, groups in world.person_groups.items():
        for group in groups:
            members[group].add(person)
    for e in _replies(world):
        start, end = _window(e, timedelta(0), WINDOW_90)
        for replier, tied in e.people.items():
            for group in world.person_groups.get(replier, set()):
                for colleague in members[group] - {replier}:
                    _add(facts, colleague, max(start, tied), end,
                         f"colleague {replier} replied ({group})")
    return facts


def fact_meeting_booked(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for e in world.engagements:
        if e.kind == "meeting":
            for person, tied in e.people.items():
                _add(facts, person, max(e.visible[0], tied),
                     min(e.visible[1], e.occurred + WINDOW_90), e.label)
    return facts


def fact_recent_manual_email(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for e in world.engagements:
        if (e.kind == "email" and e.direction == "outbound" and not e.by_sequence
                and not e.is_bounce):
            start, end = _window(e, BUFFER_15, WINDOW_90)
            for person, tied in e.people.items():
                _add(facts, person, max(start, tied), end, f"manual email {e.label}")
    return facts


def _group_facts_to_people(world: World, by_group: Facts) -> Facts:
    facts: Facts = defaultdict(list)
    for person, groups in world.person_groups.items():
        for group in groups:
            facts[person] += by_group.get(group, [])
    return facts


def _deal_groups(world: World, deal: str) -> list[tuple[str, datetime]]:
    """The company groups a HubSpot deal is at, and since when: its associated companies';
    a deal with no company that has a domain is at its associated contacts' companies
    (nothing else says where it is)."""
    places = [(group, linked_at)
              for company, linked_at in world.links[("deals", "companies")].get(deal, {}).items()
              for group in world.groups_of_domains(world.company_domains.get(company, ()))]
    if places:
        return places
    return [(group, linked_at)
            for contact, linked_at in world.links[("deals", "contacts")].get(deal, {}).items()
            for group in world.person_groups.get(world.contact_email.get(contact, ""), ())]


def fact_open_opportunity(world: World) -> Facts:
    by_group: Facts = defaultdict(list)
    for key, chain in world.hs["deals"].items():
        places = _deal_groups(world, key)
        for start, end, row in spans(chain):
            if truthy(row.get("archived")) or str(row.get("dealstage") or "") in CLOSED_DEAL_STAGES:
                continue
            for group, linked_at in places:
                _add(by_group, group, max(start, linked_at), end,
                     f"open HubSpot deal {key} ({row.get('dealstage')})")
    for key, chain in world.sf["opportunity"].items():
        for start, end, row in spans(chain):
            stage = str(row.get("StageName") or "").strip().lower()
            domains = world.account_domains.get(str(row.get("AccountId")), set())
            if truthy(row.get("IsDeleted")) or stage in CLOSED_OPPORTUNITY_STAGES:
                continue
            for group in world.groups_of_domains(domains):
                _add(by_group, group, start, end,
                     f"open Opportunity {key} ({row.get('StageName')})")
    return _group_facts_to_people(world, by_group)


def fact_lifecycle_customer(world: World) -> Facts:
    facts: Facts = defaultdict(list)
    for key, chain in world.hs["contacts"].items():
        for start, end, row in spans(chain):
            if not truthy(row.get("archived")) and row.get("lifecyclestage") == "customer":
                _add(facts, world.contact_email.get(key, ""), start, end,
                     f"HubSpot contact {key} is a customer")
    by_group: Facts = defaultdict(list)
    for key, chain in world.hs["companies"].items():
        for start, end, row in spans(chain):
            if not truthy(row.get("archived")) and row.get("lifecyclestage") == "customer":
                for group in world.groups_of_domains(world.company_domains.get(key, ())):
                    _add(by_group, group, start, end, f"HubSpot company {key} is a customer")
    for person, found in _group_facts_to_people(world, by_group).items():
        facts[person] += found
    return facts


def list_rule(name: str, project: Project) -> Callable[[World], Facts]:
    """A company list uploaded beside the rules: everyone whose group holds a domain."""

    def build(world: World) -> Facts:
        by_group: Facts = defaultdict(list)
        for domain in project.lists.get(name, []):
            _add(by_group, world.groups.find(domain), BEGINNING, END, f"on list {name}")
        facts = _group_facts_to_people(world, by_group)
        for email in project.list_emails.get(name, []):
            _add(facts, email, BEGINNING, END, f"on list {name}")
        return facts

    return build


BUILTIN_FACTS: dict[str, Callable[[World], Facts]] = {
    "unsubscribed": fact_unsubscribed,
    "bounced": fact_bounced,
    "replied": fact_replied,
    "emailed_us": fact_emailed_us,
    "colleague_replied": fact_colleague_replied,
    "meeting_booked": fact_meeting_booked,
    "open_opportunity": fact_open_opportunity,
    "lifecycle_customer": fact_lifecycle_customer,
    "recent_manual_email": fact_recent_manual_email,
}


# ---- configuration over time -----------------------------------------------------------


@dataclass
class Settings:
    """Rule headers and rulesets over time, each version in force from its time."""

    rules: dict[str, list[tuple[datetime, RuleHeader | None]]]
    rulesets: list[tuple[datetime, dict[str, Any]]]
    plays: dict[str, dict[str, Any]]

    def breakpoints(self, rule: str) -> list[datetime]:
        times = {BEGINNING} | {t for t, _ in self.rules.get(rule, [])}
        return sorted(times | {t for t, _ in self.rulesets})

    def at(self, rule: str, moment: datetime) -> tuple[RuleHeader | None, dict[str, Any]]:
        header = _latest(self.rules.get(rule, []), moment)
        return header, _latest(self.rulesets, moment) or {}


def _latest(versions: list[tuple[datetime, Any]], moment: datetime) -> Any:
    found = None
    for since, value in versions:
        if since <= moment:
            found = value
    return found


def settings_over_time(project: Project, changes: list[dict], delay: timedelta) -> Settings:
    """The start project, then each logged edit in force `delay` after it was made."""
    rules: dict[str, list[tuple[datetime, RuleHeader | None]]] = {
        name: [(BEGINNING, header)] for name, header in project.rules.items()}
    rulesets: list[tuple[datetime, dict[str, Any]]] = [(BEGINNING, project.rulesets)]
    path_rule = dict(project.rule_paths)
    for change in changes:
        when = parse_time(change.get("time"))
        if when is None:
            continue
        effective = when + delay
        if change.get("kind") == "rule_file":
            text = change.get("text")
            name = path_rule.get(change["path"], Path(change["path"]).stem)
            header = None if text is None else RuleHeader.parse(
                "\n".join(_header_lines(text)), Path(change["path"]).stem)
            if header is not None and header.name != name:
                rules.setdefault(name, []).append((effective, None))
                name = header.name
            path_rule[change["path"]] = name
            rules.setdefault(name, [(BEGINNING, None)]).append((effective, header))
        elif change.get("kind") == "rulesets":
            rulesets.append((effective, yaml.safe_load(change.get("text") or "") or {}))
    return Settings(rules, rulesets, project.plays)


def ruleset_rules(rulesets: dict[str, Any], sequence: dict[str, str]) -> set[str]:
    """The rules a ruleset turns on for a sequence (by name or id), or `default`'s."""
    listed = rulesets.get("sequences") or {}
    entry = listed.get(sequence["name"], listed.get(sequence["id"]))
    if entry is None:
        entry = rulesets.get("default") or {}
    on = set(entry.get("rules") or [])
    if entry.get("colleague_reply"):
        on.add("colleague_replied")
    return on


def removes(header: RuleHeader | None, rulesets: dict[str, Any], sequence: dict) -> bool:
    """DESIGN: remove an enrolled person from S when R is on, removes, and is on for S."""
    return bool(header and header.enabled and header.remove_enrolled
                and (header.exclude_from_sequences
                     or header.name in ruleset_rules(rulesets, sequence)))


def blocks(header: RuleHeader | None, rulesets: dict[str, Any], sequence: dict,
           play: dict | None) -> bool:
    """DESIGN: block a new enrollment in S when R is on everywhere, for S, or for the play."""
    if not (header and header.enabled):
        return False
    play_rules = set((play or {}).get("exclusions") or [])
    return (header.exclude_from_sequences or header.name in ruleset_rules(rulesets, sequence)
            or header.name in play_rules)


def in_force(settings: Settings, rule: str,
             test: Callable[[RuleHeader | None, dict[str, Any]], bool]) -> list[Interval]:
    """When `test` holds for this rule's header and the rulesets, as intervals."""
    points = settings.breakpoints(rule) + [END]
    segments = []
    for start, end in zip(points, points[1:], strict=False):
        header, rulesets = settings.at(rule, start)
        if test(header, rulesets):
            segments.append((start, end))
    return merge(segments)


# ---- the verdict -----------------------------------------------------------------------


@dataclass
class Verdict:
    """The oracle's findings; `summary()` is the soak's JSON figures."""

    steps_sent: int
    wrongful_sends: list[dict]
    wrongful_removals: list[dict]
    wrongful_enrollments: list[dict]
    removals: list[dict]
    latencies_min: list[float]
    unmodelled_rules: list[str]
    duplicate_writes: list[dict] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "steps_sent": self.steps_sent,
            "wrongful_sends": len(self.wrongful_sends),
            "wrongful_removals": len(self.wrongful_removals),
            "duplicate_writes": len(self.duplicate_writes),
            "latency_p50_min": percentile(self.latencies_min, 50),
            "latency_p95_min": percentile(self.latencies_min, 95),
        }


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (inclusive method); None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q) - 1], 1)


@dataclass
class Judge:
    """Applies the semantics to one run's truth; build with `judge()`."""

    world: World
    settings: Settings
    facts: dict[str, Facts]
    sequences: dict[str, dict[str, str]]
    grace: timedelta
    lag: timedelta | None = timedelta(0)  # the unenroll workflow's; None: it never runs
    writes: dict[str, list[UnenrollWrite]] = field(default_factory=dict)
    _cache: dict[tuple, list[Interval]] = field(default_factory=dict)

    def written_in_time(self, enrollment: dict, since: datetime, due: datetime) -> bool:
        """Whether seqguard had written the unenroll of this enrollment within the grace
        after `since`, before a step due at `due`, and the workflow (if it runs at all)
        would only have acted after it: a step the workflow's lag let out."""
        sequence = self.sequences.get(str(enrollment["sequence_id"]), {})
        targets = {"*", str(enrollment["sequence_id"]), sequence.get("name")}
        enrolled = parse_time(enrollment["enrolled_at"]) or BEGINNING
        return any(
            w.sequence in targets and enrolled <= w.at <= since + self.grace and w.at < due
            and (self.lag is None or due <= w.at + self.lag)
            for w in self.writes.get(str(enrollment["contact_id"]), ()))

    def excluded(self, person: str, sequence_id: str, kind: str,
                 play: dict | None = None) -> list[Interval]:
        """When the person was excluded from the sequence: kind 'remove' or 'block'."""
        key = (person, sequence_id, kind, id(play))
        if key not in self._cache:
            parts: list[Interval] = []
            for rule, facts in self.facts.items():
                for start, end, _ in facts.get(person, ()):
                    parts += [clip((start, end), a, b)
                              for a, b in self.rule_on(rule, sequence_id, kind, play)]
            self._cache[key] = merge(parts)
        return self._cache[key]

    def rule_on(self, rule: str, sequence_id: str, kind: str,
                play: dict | None) -> list[Interval]:
        """When the rule removes from (or blocks) the sequence, by its settings then."""
        key = ("rule", rule, sequence_id, kind, id(play))
        if key not in self._cache:
            sequence = self.sequences.get(sequence_id, {"id": sequence_id, "name": sequence_id})
            if kind == "remove":
                self._cache[key] = in_force(self.settings, rule,
                                            lambda h, r: removes(h, r, sequence))
            else:
                self._cache[key] = in_force(self.settings, rule,
                                            lambda h, r: blocks(h, r, sequence, play))
        return self._cache[key]

    def reasons(self, person: str, moment: datetime) -> list[str]:
        """Every fact about the person at a moment, whatever the settings (for reports)."""
        return [f"{rule}: {why}" for rule, facts in self.facts.items()
                for start, end, why in facts.get(person, []) if start <= moment < end]


def judge(truth: Truth, project: Project, changes: list[dict], *,
          propagation_delay: timedelta = timedelta(minutes=30), grace: timedelta = CYCLE,
          crm: str = "hubspot", send_grid: tuple[datetime, timedelta] | None = None,
          unenroll_lag: timedelta | None = timedelta(0)) -> Verdict:
    """Judge a run: `changes` is the churn's log (rule edits, rep enrollments, manual
    unenrolls); `send_grid` (first clock time, step) turns each step's due time into the
    clock tick that really sent it; `unenroll_lag` is how long after seqguard's write the
    HubSpot workflow unenrolls (None: it never does)."""
    world = build_world(truth, project)
    settings = settings_over_time(project, changes, propagation_delay)
    facts: dict[str, Facts] = {}
    unmodelled: list[str] = []
    for name, versions in settings.rules.items():
        if name in BUILTIN_FACTS:
            facts[name] = BUILTIN_FACTS[name](world)
        elif name in project.lists or name in project.list_emails:
            facts[name] = list_rule(name, project)(world)
        elif any(h is not None and h.enabled for _, h in versions):
            unmodelled.append(name)
    sequences = {str(s["id"]): {"id": str(s["id"]), "name": str(s["name"])}
                 for s in truth.sequences}
    court = Judge(world, settings, facts, sequences, grace, unenroll_lag,
                  unenroll_writes(truth))
    enrollments = [e for e in truth.enrollments if e.get("crm", crm) == crm]
    by_id = {str(e["id"]): e for e in enrollments}
    rep_made = _rep_enrollments(changes)
    manual = _manual_unenrolls(changes)
    sends = [s for s in truth.sent if str(s["enrollment_id"]) in by_id]
    wrongful_enrollments = _wrongful_enrollments(court, enrollments, rep_made, sequences)
    wrongly_enrolled = {w["enrollment_id"] for w in wrongful_enrollments}
    wrongful_sends = []
    for send in sends:
        enrollment = by_id[str(send["enrollment_id"])]
        finding = _judge_send(court, send, enrollment, send_grid, wrongly_enrolled)
        if finding:
            wrongful_sends.append(finding)
    removals, wrongful_removals, latencies = _judge_removals(court, enrollments, manual)
    return Verdict(len(sends), wrongful_sends, wrongful_removals, wrongful_enrollments,
                   removals, latencies, unmodelled, duplicate_writes(court.writes))


@dataclass(frozen=True)
class UnenrollWrite:
    """seqguard's unenroll decision as written onto a HubSpot contact."""

    at: datetime
    sequence: str  # an id or name, `*` = every sequence
    reason: str


def unenroll_writes(truth: Truth) -> dict[str, list[UnenrollWrite]]:
    """contact id -> each write of seqguard's unenroll properties that triggers the
    workflow (a new `seqguard_unenroll_at`), in log order."""
    writes: dict[str, list[UnenrollWrite]] = defaultdict(list)
    for event in truth.events:
        if event["crm"] != "hubspot" or event["object"] != "contacts":
            continue
        properties = _changes(event, SHAPES["hs_contacts"], {})
        if not filled(properties.get("seqguard_unenroll_at")):
            continue
        writes[str(event["record_id"])].append(UnenrollWrite(
            parse_time(event["happened_at"]) or BEGINNING,
            str(properties.get("seqguard_unenroll_sequence") or "").strip(),
            str(properties.get("seqguard_unenroll_reason") or "")))
    return writes


def duplicate_writes(writes: dict[str, list[UnenrollWrite]]) -> list[dict]:
    """The same decision (contact and reason text, which begins with its change id)
    written more than once."""
    found = []
    for contact, rows in writes.items():
        seen: dict[str, int] = defaultdict(int)
        for row in rows:
            seen[row.reason] += 1
        found += [{"contact_id": contact, "reason": reason, "writes": n}
                  for reason, n in seen.items() if n > 1]
    return found


def _rep_enrollments(changes: list[dict]) -> set[tuple[str, str, datetime]]:
    """Enrollments reps made at the sequencer by hand: not seqguard's to block. Keyed by
    the person's id and by their email: a sequencer with people of its own shows them
    under ids of its own."""
    made = [c for c in changes if c.get("kind") == "rep_enroll" and c.get("ok")]
    return ({(str(c["contact_id"]), str(c["sequence_id"]), parse_time(c["time"]))
             for c in made}
            | {(norm_email(c.get("email")) or "", str(c["sequence_id"]), parse_time(c["time"]))
               for c in made})


def _manual_unenrolls(changes: list[dict]) -> list[tuple[str, str | None, datetime]]:
    return [(norm_email(c["email"]) or "", c.get("sequence_id"), parse_time(c["time"]))
            for c in changes if c.get("kind") == "manual_unenroll" and c.get("ok")]


def _send_time(send: dict, enrolled: datetime,
               grid: tuple[datetime, timedelta] | None) -> datetime:
    """The clock tick that sent a step: the log keeps its due time, and a tick at the
    enrollment's own time came before it (the clock moves, then the churn enrolls)."""
    due = parse_time(send["sent_at"]) or BEGINNING
    if grid is None:
        return due
    first, step = grid
    tick = first if due <= first else first + -(-(due - first) // step) * step
    return tick + step if tick <= enrolled else tick


def _judge_send(court: Judge, send: dict, enrollment: dict,
                grid: tuple[datetime, timedelta] | None, wrongly_enrolled: set[str]
                ) -> dict | None:
    person = norm_email(enrollment.get("email"))
    if not person:
        return None
    enrolled = parse_time(enrollment["enrolled_at"]) or BEGINNING
    moment = _send_time(send, enrolled, grid)
    base = {"email": person, "sequence_id": str(send["sequence_id"]), "step": send["step"],
            "sent_at": moment.isoformat(), "enrollment_id": str(enrollment["id"])}
    if str(enrollment["id"]) in wrongly_enrolled:
        return base | {"why": "enrolled by seqguard while blocked",
                       "facts": court.reasons(person, moment)}
    hold = covering(court.excluded(person, str(send["sequence_id"]), "remove"), moment)
    if hold is None:
        return None
    since = max(hold[0], enrolled)
    if moment - since <= court.grace:
        return None
    if court.written_in_time(enrollment, since, parse_time(send["sent_at"]) or moment):
        return None
    return base | {"why": f"excluded since {since.isoformat()}",
                   "minutes_late": round((moment - since).total_seconds() / 60, 1),
                   "facts": court.reasons(person, moment)}


def _wrongful_enrollments(court: Judge, enrollments: list[dict],
                          rep_made: set[tuple[str, str, datetime]],
                          sequences: dict[str, dict[str, str]]) -> list[dict]:
    """Enrollments seqguard made (plays, manual) although the person was blocked."""
    found = []
    for e in enrollments:
        when = parse_time(e["enrolled_at"]) or BEGINNING
        if ((str(e["contact_id"]), str(e["sequence_id"]), when) in rep_made
                or (norm_email(e.get("email")) or "", str(e["sequence_id"]), when) in rep_made):
            continue
        person = norm_email(e.get("email"))
        if not person:
            continue
        sequence = sequences.get(str(e["sequence_id"]), {"id": str(e["sequence_id"]),
                                                         "name": str(e["sequence_id"])})
        play = court.settings.plays.get(sequence["name"]) or court.settings.plays.get(
            sequence["id"])
        hold = covering(court.excluded(person, sequence["id"], "block", play), when)
        if hold is not None and when - hold[0] > court.grace:
            found.append({"enrollment_id": str(e["id"]), "email": person,
                          "sequence_id": sequence["id"], "enrolled_at": when.isoformat(),
                          "blocked_since": hold[0].isoformat(),
                          "facts": court.reasons(person, when)})
    return found


def _judge_removals(court: Judge, enrollments: list[dict],
                    manual: list[tuple[str, str | None, datetime]]
                    ) -> tuple[list[dict], list[dict], list[float]]:
    removals, wrongful, latencies = [], [], []
    lag = court.lag or timedelta(0)  # with no workflow nothing is removed to judge
    asked = defaultdict(list)
    for email, sequence_id, when in manual:
        asked[email].append((sequence_id, when))
    for e in enrollments:
        if e["state"] != "unenrolled":
            continue
        person = norm_email(e.get("email")) or ""
        removed = parse_time(e["updated_at"]) or BEGINNING
        enrolled = parse_time(e["enrolled_at"]) or BEGINNING
        row = {"enrollment_id": str(e["id"]), "email": person,
               "sequence_id": str(e["sequence_id"]), "removed_at": removed.isoformat(),
               "reason": e.get("reason")}
        if any(when <= removed <= when + lag and seq in (None, str(e["sequence_id"]))
               for seq, when in asked.get(person, [])):
            removals.append(row | {"by": "manual"})
            continue
        hold = overlapping(court.excluded(person, str(e["sequence_id"]), "remove"),
                           removed - court.grace - lag, removed)
        if hold is None:
            wrongful.append(row | {"facts": court.reasons(person, removed)})
            continue
        minutes = max((removed - max(hold[0], enrolled)).total_seconds() / 60, 0.0)
        latencies.append(minutes)
        removals.append(row | {"by": "rule", "latency_min": round(minutes, 1)})
    return removals, wrongful, latencies
