"""The soak's churn: a week of CRM life, driven through the sandbox's control API.

Every 15-minute step (`Churn.step(now)`) does what a sales team and its prospects do:
reps put people into sequences by hand at the sequencer; enrolled people reply, go out
of office, unsubscribe, bounce, book meetings, become customers, or their company opens
a deal (in either CRM, sometimes on a freshly created duplicate company); deals move
through their stages and close; web forms create subscribers a play picks up; the data
team edits rule files and rulesets; users unenroll and enroll people through seqguard.

Deterministic per seed: every choice comes from one `random.Random(seed)` over sorted
candidates, and the sandbox (and seqguard) answer deterministically. Writes of a step
are batched: one upsert per object type, then one association call.

The log (`Churn.log`, JSON-able dicts with the sandbox time) is what the oracle needs
from the churn: rule-file and ruleset texts as edited, the enrollments reps made, the
manual unenrolls users asked for. Signals are logged too, for reading a finding.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import requests

# the sequences the soak defines at the sequencer; steps are minutes after the previous one
SEQUENCES = [
    {"id": "9001", "name": "Cold outbound",
     "steps": [{"after_minutes": m} for m in (0, 120, 1440, 1440, 2880)]},
    {"id": "9002", "name": "Enterprise outbound",
     "steps": [{"after_minutes": m} for m in (0, 240, 1440, 2880)]},
    {"id": "9003", "name": "Webinar follow-up",
     "steps": [{"after_minutes": m} for m in (0, 60, 1440)]},
]
REP_SEQUENCES = ("9001", "9002")
OPEN_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
               "decisionmakerboughtin", "contractsent")
TOPICS = ("Quick question", "Pricing", "Next steps", "Your trial", "Intro call")
SIGNALS = {  # kind -> weight
    "reply": 22, "ooo": 12, "unsubscribe": 9, "bounce": 7, "meeting": 9, "open_deal": 12,
    "customer": 7, "duplicate_company": 5, "emailed_us": 6, "colleague_reply": 8,
    "nothing_worth_a_rule": 3,
}


@dataclass(frozen=True)
class Rates:
    """Expected counts per 15-minute step at 10,000 contacts (scaled to the sandbox)."""

    rep_enrollments: float = 6.0
    signal_per_enrollment: float = 0.006   # chance per open enrollment per step
    form_fills: float = 1.0
    deals_opened: float = 0.6
    deals_moved: float = 1.0
    opportunities_opened: float = 0.4
    opportunities_closed: float = 0.4
    stray_replies: float = 0.6             # replies from people in no sequence
    manual_unenroll: float = 0.08          # chance per step (not scaled)
    manual_enroll: float = 0.08
    rule_edit_every_steps: int = 24        # one rule/ruleset edit per 6 hours


class RepDesk(Protocol):
    """A rep enrolling by hand at a sequencer of its own (Outreach, Salesloft, Apollo)."""

    def enroll(self, email: str, sequence_id: str, sender: str
               ) -> tuple[bool, str | None, str | None]:
        """(made, the refusal, the sequencer's id of the person)."""
        ...


class ManualActions(Protocol):
    """A user acting through seqguard (the CLI's functions); raises on a refusal."""

    def unenroll(self, email: str, sequence: str | None, now: datetime) -> None: ...

    def enroll(self, email: str, sequence: str, now: datetime) -> None: ...


class Sandbox(Protocol):
    url: str
    cert: str
    http: Any

    def define_sequences(self, sequences: list[dict]) -> list[dict]: ...
    def table(self, name: str) -> list[dict]: ...
    def enrollments(self) -> list[dict]: ...
    def upsert_hubspot(self, obj: str, records: list[dict]) -> list[dict]: ...
    def upsert_salesforce(self, sobject: str, records: list[dict]) -> list[dict]: ...
    def associate(self, rows: list[dict]) -> None: ...


@dataclass
class Person:
    id: str
    email: str
    owner_id: str | None
    company_id: str | None
    sf_contact_id: str | None = None
    sf_account_id: str | None = None
    aliases: list[str] = field(default_factory=list)
    unsubscribed: bool = False


@dataclass
class Writes:
    """One step's writes, applied in two calls per kind: records, then associations."""

    hubspot: dict[str, list[tuple[dict, Callable[[str], None] | None]]] = field(
        default_factory=lambda: defaultdict(list))
    salesforce: dict[str, list[tuple[dict, Callable[[str], None] | None]]] = field(
        default_factory=lambda: defaultdict(list))
    links: list[dict] = field(default_factory=list)

    def hs(self, obj: str, record: dict, then: Callable[[str], None] | None = None) -> None:
        self.hubspot[obj].append((record, then))

    def sf(self, sobject: str, record: dict, then: Callable[[str], None] | None = None) -> None:
        self.salesforce[sobject].append((record, then))

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.links.append({"from_type": from_type, "from_id": int(from_id),
                           "to_type": to_type, "to_id": int(to_id)})

    def apply(self, sandbox: Sandbox) -> None:
        # companies before deals before the rest, so callbacks can link what they made
        for obj in sorted(self.hubspot, key=lambda o: (o != "companies", o != "contacts", o)):
            items = self.hubspot[obj]
            results = sandbox.upsert_hubspot(obj, [record for record, _ in items])
            for (_, then), result in zip(items, results, strict=True):
                if then:
                    then(str(result["id"]))
        for sobject, items in self.salesforce.items():
            results = sandbox.upsert_salesforce(sobject, [record for record, _ in items])
            for (_, then), result in zip(items, results, strict=True):
                if then:
                    then(str(result["id"]))
        if self.links:
            sandbox.associate(self.links)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def set_header(text: str, key: str, value: str) -> str:
    """Change one `-- key: value` header line, keeping any trailing `-- note`."""
    pattern = re.compile(rf"^(--\s*{key}\s*:\s*)(\S+)(.*)$", re.M)
    if not pattern.search(text):
        raise ValueError(f"rule file has no '-- {key}:' header line")
    return pattern.sub(lambda m: f"{m.group(1)}{value}{m.group(3)}", text, count=1)


def touch_body(text: str, note: str) -> str:
    """A cosmetic edit (a new content hash, the same meaning): a comment after the header."""
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if not line.startswith("--")), len(lines))
    return "\n".join(lines[:at] + [f"-- {note}"] + lines[at:]) + "\n"


def add_colleague_reply(text: str, sequence: str) -> str:
    """rulesets.yml with colleague_reply turned on for one more sequence."""
    import yaml

    data = yaml.safe_load(text) or {}
    data.setdefault("sequences", {})[sequence] = {"rules": [], "colleague_reply": True}
    return yaml.safe_dump(data, sort_keys=False)


# the data team's edits, one every `rule_edit_every_steps`, in this order (then again)
RuleEdit = tuple[str, Callable[[str, str], str]]
RULE_EDITS: list[RuleEdit] = [
    ("sql/exclusions/builtin/meeting_booked.sql", lambda t, o: set_header(t, "enabled", "false")),
    ("sql/rulesets.yml", lambda t, o: add_colleague_reply(t, "Cold outbound")),
    ("sql/exclusions/builtin/replied.sql", lambda t, o: touch_body(t, "reviewed by the data team")),
    ("sql/exclusions/builtin/meeting_booked.sql", lambda t, o: set_header(t, "enabled", "true")),
    ("sql/exclusions/builtin/lifecycle_customer.sql",
     lambda t, o: set_header(t, "remove_enrolled", "false")),
    ("sql/rulesets.yml", lambda t, o: o),
    ("sql/exclusions/builtin/lifecycle_customer.sql",
     lambda t, o: set_header(t, "remove_enrolled", "true")),
    ("sql/exclusions/builtin/open_opportunity.sql",
     lambda t, o: touch_body(t, "deals in any pipeline count")),
]


class Churn:
    """Drives one sandbox through a soak, step by step; see the module docstring."""

    def __init__(self, sandbox: Sandbox, *, seed: int, contacts: int,
                 project_dir: str | Path | None = None, manual: ManualActions | None = None,
                 rates: Rates | None = None, sequencer: str = "hubspot",
                 rep: RepDesk | None = None) -> None:
        self.sandbox = sandbox
        self.sequencer = sequencer  # whose enrollments reps make and signals land on
        self.rep = rep              # a sequencer of its own: how a rep enrolls there
        self.rng = random.Random(seed)
        self.seed = seed
        self.scale = max(contacts, 1) / 10_000
        self.project = Path(project_dir) if project_dir else None
        self.manual = manual
        self.rates = rates or Rates()
        self.log: list[dict[str, Any]] = []
        self.people: dict[str, Person] = {}
        self.by_email: dict[str, Person] = {}
        self.company_people: dict[str, list[str]] = defaultdict(list)
        self.company_domain: dict[str, str] = {}
        self.owner_user: dict[str, tuple[str, str]] = {}  # owner id -> (user id, email)
        self.open_deals: dict[str, str] = {}               # deal id -> stage
        self.open_opportunities: list[str] = []
        self.accounts: list[str] = []
        self.originals: dict[str, str] = {}
        self.steps = 0
        self.new_people = 0
        self.http = requests.Session()
        self.http.verify = sandbox.cert
        self.http.trust_env = False  # REQUESTS_CA_BUNDLE would override verify
        self.http.headers["Authorization"] = "Bearer sandbox-token"

    # ---- setup --------------------------------------------------------------------------

    def setup(self, now: datetime) -> None:
        """Define the sequences and learn the generated population (ids, companies)."""
        self.sandbox.define_sequences(SEQUENCES)
        self.owner_user = {str(o["id"]): (str(o["user_id"]), o["email"])
                           for o in self.sandbox.table("hs_owners")}
        companies = {}
        for row in self.sandbox.table("hs_companies"):
            companies[str(row["id"])] = row
            if row.get("domain"):
                self.company_domain[str(row["id"])] = row["domain"]
        company_of: dict[str, str] = {}
        for link in self.sandbox.table("hs_associations"):
            if link["from_type"] == "contacts" and link["to_type"] == "companies":
                company_of.setdefault(str(link["from_id"]), str(link["to_id"]))
        for row in sorted(self.sandbox.table("hs_contacts"), key=lambda r: int(r["id"])):
            if not row.get("email") or row.get("archived"):
                continue
            self._add_person(Person(
                id=str(row["id"]), email=row["email"], owner_id=row.get("hubspot_owner_id"),
                company_id=company_of.get(str(row["id"])),
                aliases=[a for a in (row.get("hs_additional_emails") or "").split(";") if a],
                unsubscribed=row.get("hs_email_optout") == "true"))
        for row in self.sandbox.table("sf_contact"):
            person = self.by_email.get((row.get("Email") or "").strip().lower())
            if person and not row.get("IsDeleted"):
                person.sf_contact_id = row["Id"]
                person.sf_account_id = row.get("AccountId")
        for row in sorted(self.sandbox.table("hs_deals"), key=lambda r: int(r["id"])):
            if row.get("dealstage") in OPEN_STAGES and not row.get("archived"):
                self.open_deals[str(row["id"])] = row["dealstage"]
        from bench.oracle import read_table  # a reader only: dates need the REST fallback

        for row in sorted(read_table(self.sandbox, "sf_opportunity"), key=lambda r: r["Id"]):
            if not row.get("IsClosed") and not row.get("IsDeleted"):
                self.open_opportunities.append(row["Id"])
        self.accounts = sorted(r["Id"] for r in self.sandbox.table("sf_account")
                               if not r.get("IsDeleted"))
        if self.project:
            for path, _ in RULE_EDITS:
                self.originals[path] = (self.project / path).read_text()
        self._note(now, "setup", people=len(self.people), open_deals=len(self.open_deals))

    def _add_person(self, person: Person) -> None:
        self.people[person.id] = person
        self.by_email[person.email.strip().lower()] = person
        if person.company_id:
            self.company_people[person.company_id].append(person.id)

    # ---- one step -----------------------------------------------------------------------

    def step(self, now: datetime) -> dict[str, int]:
        """One 15-minute step of churn at sandbox time `now`; returns counts by kind."""
        counts: dict[str, int] = defaultdict(int)
        writes = Writes()
        open_rows = [e for e in self.sandbox.enrollments()
                     if e.get("crm", "hubspot") == self.sequencer
                     and e["state"] in ("active", "paused")]
        # people by email: a sequencer of its own numbers them its own way
        enrolled = {p.id for p in map(self._person_of, open_rows) if p}
        for row in sorted(open_rows, key=lambda e: int(e["id"])):
            if self.rng.random() < self.rates.signal_per_enrollment:
                person = self._person_of(row)
                if person:
                    kind = self._pick_signal()
                    self._signal(kind, person, now, writes)
                    counts[kind] += 1
        self._background(now, writes, counts)
        writes.apply(self.sandbox)
        counts["rep_enroll"] = self._rep_enrollments(now, enrolled)
        if self.project and self.steps % self.rates.rule_edit_every_steps == (
                self.rates.rule_edit_every_steps - 1):
            self._edit_rules(now)
            counts["rule_edit"] += 1
        if self.manual:
            counts.update(self._manual(now, open_rows))
        self.steps += 1
        return dict(counts)

    def _person_of(self, enrollment: dict) -> Person | None:
        return self.by_email.get(str(enrollment.get("email") or "").strip().lower())

    def _count(self, rate: float) -> int:
        """A whole number of events with the scaled expectation `rate`."""
        expected = rate * self.scale
        whole = int(expected)
        return whole + (1 if self.rng.random() < expected - whole else 0)

    def _pick_signal(self) -> str:
        kinds = sorted(SIGNALS)
        return self.rng.choices(kinds, weights=[SIGNALS[k] for k in kinds])[0]

    def _note(self, now: datetime, kind: str, **details: Any) -> None:
        self.log.append({"time": now.isoformat(), "kind": kind, **details})

    # ---- signals on enrolled people -----------------------------------------------------

    def _signal(self, kind: str, person: Person, now: datetime, writes: Writes) -> None:
        handler = getattr(self, f"_do_{kind}")
        handler(person, now, writes)

    def _owner_email(self, person: Person) -> str:
        return self.owner_user.get(person.owner_id or "", ("", "rep@seqguard-sandbox.test"))[1]

    def _email(self, person: Person, now: datetime, writes: Writes, *, inbound: bool,
               subject: str, sender: str | None = None, headers: str | None = None,
               status: str | None = None, link: bool = True, kind: str = "reply") -> None:
        """An email logged on the contact, as the CRM's inbox sync would log it."""
        occurred = now - timedelta(minutes=self.rng.randint(0, 14))
        record = {"properties": {
            "hs_email_direction": "INCOMING_EMAIL" if inbound else "EMAIL",
            "hs_email_from_email": sender or (person.email if inbound
                                              else self._owner_email(person)),
            "hs_email_to_email": self._owner_email(person) if inbound else person.email,
            "hs_email_subject": subject, "hs_timestamp": iso(occurred),
            "hs_email_headers": headers, "hs_email_status": status,
            "hubspot_owner_id": person.owner_id}}

        def linked(email_id: str) -> None:
            if link:
                writes.link("emails", email_id, "contacts", person.id)

        writes.hs("emails", record, linked)
        self._note(now, "signal", signal=kind, email=person.email, subject=subject)

    def _do_reply(self, person: Person, now: datetime, writes: Writes) -> None:
        self._email(person, now, writes, inbound=True,
                    subject=f"Re: {self.rng.choice(TOPICS)}")

    def _do_ooo(self, person: Person, now: datetime, writes: Writes) -> None:
        topic = self.rng.choice(TOPICS)
        style = self.rng.randrange(4)
        subject = {0: f"Automatic reply: {topic}", 1: f"Out of Office: Re: {topic}"}.get(
            style, f"Re: {topic}")
        headers = {2: '{"Auto-Submitted": "auto-replied"}', 3: '{"X-Autoreply": "yes"}'}.get(
            style)
        self._email(person, now, writes, inbound=True, subject=subject, headers=headers,
                    kind="ooo")

    def _do_unsubscribe(self, person: Person, now: datetime, writes: Writes) -> None:
        person.unsubscribed = True
        if person.sf_contact_id and self.rng.random() < 0.3:
            writes.sf("Contact", {"Id": person.sf_contact_id, "HasOptedOutOfEmail": True})
            where = "salesforce"
        else:
            writes.hs("contacts", {"id": person.id, "properties": {"hs_email_optout": "true"}})
            where = "hubspot"
        self._note(now, "signal", signal="unsubscribe", email=person.email, crm=where)

    def _do_bounce(self, person: Person, now: datetime, writes: Writes) -> None:
        roll = self.rng.random()
        if person.sf_contact_id and roll < 0.25:
            writes.sf("Contact", {"Id": person.sf_contact_id, "EmailBouncedDate": iso(now),
                                  "EmailBouncedReason": "550 5.1.1 User unknown"})
            self._note(now, "signal", signal="bounce", email=person.email, crm="salesforce")
        elif roll < 0.5:
            self._email(person, now, writes, inbound=False, subject="Following up",
                        status="BOUNCED", kind="bounce")
        else:
            writes.hs("contacts", {"id": person.id,
                                   "properties": {"hs_email_bad_address": "true"}})
            self._note(now, "signal", signal="bounce", email=person.email, crm="hubspot")

    def _do_meeting(self, person: Person, now: datetime, writes: Writes) -> None:
        when = now + timedelta(hours=self.rng.randint(2, 240))
        if person.sf_contact_id and self.rng.random() < 0.3:
            writes.sf("Event", {"WhoId": person.sf_contact_id, "Subject": "Meeting: Demo",
                                "StartDateTime": iso(when),
                                "EndDateTime": iso(when + timedelta(minutes=30))})
        else:
            record = {"properties": {"hs_timestamp": iso(when), "hs_meeting_title": "Demo",
                                     "hs_meeting_outcome": "SCHEDULED",
                                     "hs_attendee_email": person.email,
                                     "hubspot_owner_id": person.owner_id}}
            writes.hs("meetings", record,
                      lambda mid: writes.link("meetings", mid, "contacts", person.id))
        self._note(now, "signal", signal="meeting", email=person.email, at=when.isoformat())

    def _do_open_deal(self, person: Person, now: datetime, writes: Writes) -> None:
        if person.sf_account_id and (not person.company_id or self.rng.random() < 0.4):
            self._open_opportunity(person.sf_account_id, now, writes)
        elif person.company_id:
            self._open_deal(person.company_id, now, writes)
        else:
            return self._do_reply(person, now, writes)
        self._note(now, "signal", signal="open_deal", email=person.email)

    def _do_customer(self, person: Person, now: datetime, writes: Writes) -> None:
        if person.company_id and self.rng.random() < 0.6:
            writes.hs("companies", {"id": person.company_id,
                                    "properties": {"lifecyclestage": "customer"}})
        else:
            writes.hs("contacts", {"id": person.id, "properties": {"lifecyclestage": "customer"}})
        self._note(now, "signal", signal="customer", email=person.email)

    def _do_duplicate_company(self, person: Person, now: datetime, writes: Writes) -> None:
        """Someone creates the person's company again (a domain variant) with a deal."""
        domain = self.company_domain.get(person.company_id or "")
        if not domain:
            return self._do_open_deal(person, now, writes)
        bare = re.sub(r"^(https?://)?(www\.)?", "", domain.strip().lower()).split("/")[0]
        variant = self.rng.choice([f"www.{bare}", bare.upper(), f"https://{bare}/contact",
                                   f"http://www.{bare}/"])
        record = {"properties": {"name": f"{bare.split('.')[0].title()} (dup)",
                                 "domain": variant}}

        def with_deal(company_id: str) -> None:
            self.company_domain[company_id] = variant
            self._open_deal(company_id, now, writes, later=True)

        writes.hs("companies", record, with_deal)
        self._note(now, "signal", signal="duplicate_company", email=person.email, domain=variant)

    def _do_emailed_us(self, person: Person, now: datetime, writes: Writes) -> None:
        """An email from another address of theirs, logged on no contact."""
        sender = person.aliases[0] if person.aliases else f"  {person.email.upper()} "
        self._email(person, now, writes, inbound=True, subject="A question",
                    sender=sender, link=False, kind="emailed_us")

    def _do_colleague_reply(self, person: Person, now: datetime, writes: Writes) -> None:
        colleagues = [p for p in self.company_people.get(person.company_id or "", [])
                      if p != person.id]
        if not colleagues:
            return self._do_ooo(person, now, writes)
        colleague = self.people[self.rng.choice(sorted(colleagues))]
        self._email(colleague, now, writes, inbound=True, subject="Re: your email to my team",
                    kind="colleague_reply")

    def _do_nothing_worth_a_rule(self, person: Person, now: datetime, writes: Writes) -> None:
        """A note-worthy change no rule reads: the title changes (must not unenroll)."""
        writes.hs("contacts", {"id": person.id, "properties": {"company": "Renamed Co"}})
        self._note(now, "signal", signal="nothing", email=person.email)

    # ---- deals, forms, stray replies ----------------------------------------------------

    def _open_deal(self, company_id: str, now: datetime, writes: Writes,
                   later: bool = False) -> None:
        record = {"properties": {
            "dealname": f"Deal {self.rng.randrange(10**6)}", "pipeline": "default",
            "dealstage": "appointmentscheduled", "amount": str(self.rng.randrange(5, 90) * 1000),
            "closedate": iso(now + timedelta(days=60))}}

        def linked(deal_id: str) -> None:
            self.open_deals[deal_id] = "appointmentscheduled"
            writes.link("deals", deal_id, "companies", company_id)

        if later:
            # the company is being created in this step's write: its deal follows at once
            linked(str(self.sandbox.upsert_hubspot("deals", [record])[0]["id"]))
        else:
            writes.hs("deals", record, linked)

    def _open_opportunity(self, account_id: str, now: datetime, writes: Writes) -> None:
        record = {"Name": f"Opportunity {self.rng.randrange(10**6)}", "AccountId": account_id,
                  "StageName": "Prospecting", "CloseDate": (now + timedelta(days=60)).date()
                  .isoformat()}
        writes.sf("Opportunity", record, self.open_opportunities.append)

    def _background(self, now: datetime, writes: Writes, counts: dict[str, int]) -> None:
        companies = sorted(self.company_domain, key=int)
        for _ in range(self._count(self.rates.deals_opened)):
            self._open_deal(self.rng.choice(companies), now, writes)
            counts["deal_opened"] += 1
        for _ in range(self._count(self.rates.deals_moved)):
            if self.open_deals:
                self._move_deal(now, writes)
                counts["deal_moved"] += 1
        for _ in range(self._count(self.rates.opportunities_opened)):
            if self.accounts:
                self._open_opportunity(self.rng.choice(self.accounts), now, writes)
                counts["opportunity_opened"] += 1
        for _ in range(self._count(self.rates.opportunities_closed)):
            if self.open_opportunities:
                opp = self.open_opportunities.pop(self.rng.randrange(len(self.open_opportunities)))
                stage = self.rng.choice(["Closed Won", "Closed Lost"])
                writes.sf("Opportunity", {"Id": opp, "StageName": stage})
                self._note(now, "deal", crm="salesforce", id=opp, stage=stage)
                counts["opportunity_closed"] += 1
        for _ in range(self._count(self.rates.form_fills)):
            self._form_fill(now, writes, companies)
            counts["form_fill"] += 1
        people = sorted(self.people, key=int)
        for _ in range(self._count(self.rates.stray_replies)):
            self._do_reply(self.people[self.rng.choice(people)], now, writes)
            counts["stray_reply"] += 1

    def _move_deal(self, now: datetime, writes: Writes) -> None:
        deal = self.rng.choice(sorted(self.open_deals, key=int))
        stage = self.open_deals[deal]
        at = OPEN_STAGES.index(stage)
        if at + 1 < len(OPEN_STAGES) and self.rng.random() < 0.6:
            stage = OPEN_STAGES[at + 1]
            self.open_deals[deal] = stage
        else:
            stage = self.rng.choice(["closedwon", "closedlost"])
            del self.open_deals[deal]
        writes.hs("deals", {"id": deal, "properties": {"dealstage": stage}})
        self._note(now, "deal", crm="hubspot", id=deal, stage=stage)

    def _form_fill(self, now: datetime, writes: Writes, companies: list[str]) -> None:
        """A webinar form creates a subscriber; the play's audience picks them up."""
        company = self.rng.choice(companies)
        domain = re.sub(r"^(https?://)?(www\.)?", "", self.company_domain[company].lower())
        domain = domain.split("/")[0]
        self.new_people += 1
        email = f"webinar.{self.seed}.{self.new_people}@{domain}"
        owner = self.rng.choice(sorted(self.owner_user))
        record = {"properties": {"email": email, "firstname": "Webinar",
                                 "lastname": f"Guest{self.new_people}",
                                 "lifecyclestage": "subscriber", "hubspot_owner_id": owner}}

        def created(contact_id: str) -> None:
            self._add_person(Person(contact_id, email, owner, company))
            writes.link("contacts", contact_id, "companies", company)

        writes.hs("contacts", record, created)
        self._note(now, "form_fill", email=email)

    # ---- people put into sequences by reps, at the sequencer ----------------------------

    def _rep_enrollments(self, now: datetime, enrolled: set[str]) -> int:
        candidates = [p for p in sorted(self.people, key=int)
                      if p not in enrolled and not self.people[p].unsubscribed]
        made = 0
        for _ in range(self._count(self.rates.rep_enrollments)):
            if not candidates:
                break
            person = self.people[candidates.pop(self.rng.randrange(len(candidates)))]
            sequence = self.rng.choice(REP_SEQUENCES)
            user_id, sender = self.owner_user.get(person.owner_id or "",
                                                  next(iter(self.owner_user.values())))
            if self.rep:
                ok, error, contact_id = self.rep.enroll(person.email, sequence, sender)
                made += ok
                self._note(now, "rep_enroll", contact_id=contact_id, email=person.email,
                           sequence_id=sequence, ok=ok, error=error)
                continue
            response = self.http.post(
                f"{self.sandbox.url}/automation/v4/sequences/enrollments",
                params={"userId": user_id}, timeout=60,
                json={"sequenceId": sequence, "contactId": person.id, "senderEmail": sender})
            ok = response.status_code == 200
            made += ok
            self._note(now, "rep_enroll", contact_id=person.id, email=person.email,
                       sequence_id=sequence, ok=ok,
                       error=None if ok else response.json().get("message"))
        return made

    # ---- the data team and the users ----------------------------------------------------

    def _edit_rules(self, now: datetime) -> None:
        path, edit = RULE_EDITS[(self.steps // self.rates.rule_edit_every_steps)
                                % len(RULE_EDITS)]
        assert self.project is not None
        target = self.project / path
        text = edit(target.read_text(), self.originals[path])
        target.write_text(text)
        kind = "rulesets" if path.endswith("rulesets.yml") else "rule_file"
        self._note(now, kind, path=path, text=text)

    def _manual(self, now: datetime, open_rows: list[dict]) -> dict[str, int]:
        assert self.manual is not None
        counts: dict[str, int] = {}
        if open_rows and self.rng.random() < self.rates.manual_unenroll:
            row = self.rng.choice(sorted(open_rows, key=lambda e: int(e["id"])))
            sequence = row["sequence_id"] if self.rng.random() < 0.5 else None
            ok, error = self._attempt(lambda: self.manual.unenroll(row["email"], sequence, now))
            self._note(now, "manual_unenroll", email=row["email"], sequence_id=sequence,
                       ok=ok, error=error)
            counts["manual_unenroll"] = 1
        if self.rng.random() < self.rates.manual_enroll:
            person = self.people[self.rng.choice(sorted(self.people, key=int))]
            ok, error = self._attempt(lambda: self.manual.enroll(person.email, "Cold outbound",
                                                                 now))
            self._note(now, "manual_enroll", email=person.email, sequence_id="9001", ok=ok,
                       error=error)
            counts["manual_enroll"] = 1
        return counts

    @staticmethod
    def _attempt(action: Callable[[], None]) -> tuple[bool, str | None]:
        """Run a manual action; a refusal is an answer, not a failure of the soak."""
        try:
            action()
        except Exception as exc:  # seqguard's one-line refusals are all we expect here
            return False, f"{type(exc).__name__}: {exc}"
        return True, None


def approve_held(db: str, url: str, cert: str, now: datetime, settings: Any = None) -> int:
    """The operator watching the Prefect UI: approve and post every run the circuit
    breaker holds (`seqguard cycle --approve RUN`), also one whose cycle crashed while
    it waited; `settings`: seqguard.yml's (the sequencer). Returns how many runs were
    approved."""
    from tasks.core.config import sandbox_config
    from tasks.db.store import connect
    from tasks.post.approval import decide
    from tasks.post.poster import post_pending

    with connect(db) as con:
        held = [r[0] for r in con.execute(
            "select distinct run_id from ops.outbox where status = 'held' order by 1").fetchall()]
    for run_id in held:
        decide(db, run_id, True, "user:operator", via="cli", exists_ok=True)
        post_pending(db, sandbox_config(url, cert, settings), now, run_id=run_id)
    return len(held)
