"""The oracle on its own: hand-built histories on the real sandbox, judged without seqguard.

A stand-in plays seqguard where a scenario needs an unenroll: it writes the contact
property the HubSpot workflow reacts to, as seqguard's HubSpot adapter does. Each test
names the verdict the semantics demand, so the oracle is checked before it checks.
"""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import requests

from bench import oracle
from bench.churn import Churn, Rates, set_header
from sandbox.client import SandboxClient

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 8, 0)
STEP = {"after_minutes": 30}
SEQUENCES = [
    {"id": "1", "name": "Cold outbound", "steps": [{"after_minutes": 0}] + [STEP] * 5},
    {"id": "2", "name": "Enterprise outbound", "steps": [{"after_minutes": 0}] + [STEP] * 5},
    {"id": "3", "name": "Webinar follow-up", "steps": [{"after_minutes": 0}] + [STEP] * 5},
]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Scene:
    """An empty sandbox, a project copy and a churn-style log, moved by hand."""

    def __init__(self, sandbox: SandboxClient, tmp_path: Path) -> None:
        self.sandbox = sandbox
        sandbox.set_clock(T0)
        sandbox.reset(now=T0)
        sandbox.workflow(0)  # the unenroll workflow acts at the write's own time
        sandbox.define_sequences(SEQUENCES)
        self.project = tmp_path / "project"
        shutil.copytree(ROOT / "sql", self.project / "sql")
        self.log: list[dict] = []
        self.http = requests.Session()
        self.http.verify = sandbox.cert
        self.http.trust_env = False
        self.start: dict | None = None
        self.files: oracle.Project | None = None

    def company(self, domain: str, **properties: str) -> str:
        record = {"properties": {"name": domain, "domain": domain, **properties}}
        return str(self.sandbox.upsert_hubspot("companies", [record])[0]["id"])

    def contact(self, email: str, company: str | None = None, **properties: str) -> str:
        record = {"properties": {"email": email, "firstname": "Test", **properties}}
        contact_id = str(self.sandbox.upsert_hubspot("contacts", [record])[0]["id"])
        if company:
            self.link("contacts", contact_id, "companies", company)
        return contact_id

    def link(self, from_type: str, from_id: str, to_type: str, to_id: str) -> None:
        self.sandbox.associate([{"from_type": from_type, "from_id": int(from_id),
                                 "to_type": to_type, "to_id": int(to_id)}])

    def email(self, contact: str | None, sender: str, *, inbound: bool = True,
              subject: str = "Re: hello", headers: str | None = None, minutes_ago: int = 0,
              status: str | None = None) -> None:
        now = datetime.fromisoformat(self.sandbox.clock().replace("Z", ""))
        record = {"properties": {
            "hs_email_direction": "INCOMING_EMAIL" if inbound else "EMAIL",
            "hs_email_from_email": sender, "hs_email_to_email": "rep@example.test",
            "hs_email_subject": subject, "hs_email_headers": headers,
            "hs_email_status": status,
            "hs_timestamp": iso(now - timedelta(minutes=minutes_ago))}}
        email_id = str(self.sandbox.upsert_hubspot("emails", [record])[0]["id"])
        if contact:
            self.link("emails", email_id, "contacts", contact)

    def begin(self) -> None:
        """What the oracle reads before the run starts."""
        self.start = oracle.snapshot(self.sandbox)
        self.files = oracle.read_project(self.project)

    def clock(self, minutes: int) -> None:
        self.sandbox.set_clock(at(minutes))

    def enroll(self, contact: str, sequence: str, *, by_rep: bool = True) -> None:
        response = self.http.post(
            f"{self.sandbox.url}/automation/v4/sequences/enrollments",
            params={"userId": "5100001"}, headers={"Authorization": "Bearer sandbox-token"},
            json={"sequenceId": sequence, "contactId": contact,
                  "senderEmail": "avery.nguyen@seqguard-sandbox.test"}, timeout=30)
        assert response.status_code == 200, response.text
        if by_rep:
            self.log.append({"time": self.sandbox.clock(), "kind": "rep_enroll",
                             "contact_id": contact, "sequence_id": sequence, "ok": True})

    def unenroll(self, contact: str, sequence: str = "*", reason: str = "stand-in") -> None:
        """What seqguard's HubSpot adapter writes; the sandbox's workflow unenrolls (with
        no lag: its run is due at once, and setting the clock again carries it out)."""
        now = self.sandbox.clock()
        self.sandbox.upsert_hubspot("contacts", [{"id": contact, "properties": {
            "seqguard_unenroll_sequence": sequence, "seqguard_unenroll_reason": reason,
            "seqguard_unenroll_at": f"{now} {reason}"}}])
        self.sandbox.set_clock(now)

    def verdict(self, **options: object) -> oracle.Verdict:
        assert self.start is not None and self.files is not None
        truth = oracle.collect(self.sandbox, self.start)
        options.setdefault("send_grid", (T0, timedelta(minutes=15)))
        return oracle.judge(truth, self.files, self.log, **options)  # type: ignore[arg-type]


@pytest.fixture
def scene(sandbox: SandboxClient, tmp_path: Path) -> Scene:
    return Scene(sandbox, tmp_path)


# ---- the helpers -----------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["https://www.Acme.com/about", "WWW.ACME.COM", "acme.com/",
                                 "http://acme.com:8080/x?y", " acme.com. ", "bob@Acme.com"])
def test_domains_normalize_to_one_company_domain(raw: str) -> None:
    assert oracle.norm_domain(raw) == "acme.com"


@pytest.mark.parametrize(("subject", "headers", "ooo"), [
    ("Automatic reply: Pricing", None, True),
    ("Out of Office: Re: hello", None, True),
    ("Re: hello", '{"Auto-Submitted": "auto-replied"}', True),
    ("Re: hello", '{"X-Autoreply": "yes"}', True),
    ("Re: hello", '{"Auto-Submitted": "no"}', False),
    ("Re: hello", None, False),
    ("Re: hello", "not json", False),
])
def test_out_of_office_is_told_by_subject_or_headers(subject: str, headers: str | None,
                                                     ooo: bool) -> None:
    assert oracle.is_out_of_office(subject, headers) is ooo


def test_intervals_merge_when_they_touch_or_overlap() -> None:
    assert oracle.merge([(at(30), at(45)), (at(0), at(15)), (at(15), at(20)),
                         (at(50), at(50))]) == [(at(0), at(20)), (at(30), at(45))]


def test_rule_header_reads_values_without_trailing_notes() -> None:
    text = (ROOT / "sql/exclusions/builtin/open_opportunity.sql").read_text()
    header = oracle.RuleHeader.parse(text, "x")
    assert header == oracle.RuleHeader("open_opportunity", "company", True, True, True)
    assert oracle.RuleHeader.parse(set_header(text, "enabled", "false"), "x").enabled is False


def test_a_step_is_sent_at_the_first_tick_after_its_enrollment() -> None:
    grid = (T0, timedelta(minutes=15))
    assert oracle._send_time({"sent_at": iso(at(0))}, at(0), grid) == at(15)
    assert oracle._send_time({"sent_at": iso(at(31))}, at(0), grid) == at(45)
    assert oracle._send_time({"sent_at": iso(at(45))}, at(0), grid) == at(45)


def test_percentiles_of_latencies() -> None:
    assert oracle.percentile([], 95) is None
    assert oracle.percentile([15.0], 50) == 15.0
    assert oracle.percentile([0.0] * 19 + [15.0], 95) == pytest.approx(0.8, abs=0.1)


# ---- scenarios -------------------------------------------------------------------------


def test_steps_after_a_reply_are_wrongful_once_a_cycle_has_passed(scene: Scene) -> None:
    acme = scene.company("acme.com")
    ana = scene.contact("ana@acme.com", acme)
    scene.begin()
    scene.enroll(ana, "1")                  # step 1 due at 0, sent at the 15 tick
    scene.clock(15)
    scene.email(ana, "ana@acme.com")        # she replies after that tick
    scene.clock(30)                         # step 2: 15 min after the reply: in grace
    scene.clock(60)                         # step 3: 45 min after: wrongful
    scene.unenroll(ana)
    verdict = scene.verdict()
    assert verdict.steps_sent == 3
    assert [(w["step"], w["minutes_late"]) for w in verdict.wrongful_sends] == [(3, 45.0)]
    assert any(f.startswith("replied:") for f in verdict.wrongful_sends[0]["facts"])
    assert verdict.wrongful_removals == []
    assert verdict.latencies_min == [45.0]


@pytest.mark.parametrize(("subject", "headers"), [
    ("Automatic reply: hello", None),
    ("Re: hello", '{"Auto-Submitted": "auto-replied"}'),
    ("Re: hello", '{"X-Autoreply": "yes"}'),
])
def test_an_out_of_office_reply_excludes_no_one(scene: Scene, subject: str,
                                                headers: str | None) -> None:
    bo = scene.contact("bo@acme.com")
    scene.begin()
    scene.enroll(bo, "1")
    scene.email(bo, "bo@acme.com", subject=subject, headers=headers)
    scene.clock(60)
    scene.unenroll(bo)
    verdict = scene.verdict()
    assert verdict.wrongful_sends == []
    assert [w["email"] for w in verdict.wrongful_removals] == ["bo@acme.com"]


def test_an_open_deal_on_a_duplicate_company_excludes_everyone_at_the_domain(
        scene: Scene) -> None:
    acme = scene.company("acme.com")
    cy = scene.contact("cy@acme.com", acme)
    dee = scene.contact("dee@gmail.com", acme)  # a free-mail address, at acme by association
    scene.begin()
    scene.enroll(cy, "1")
    scene.enroll(dee, "1")
    scene.clock(15)
    duplicate = scene.company("https://www.ACME.com/about")
    deal = scene.sandbox.upsert_hubspot("deals", [{"properties": {
        "dealname": "dup deal", "pipeline": "default", "dealstage": "qualifiedtobuy"}}])[0]
    scene.link("deals", str(deal["id"]), "companies", duplicate)
    scene.clock(60)
    verdict = scene.verdict()
    late = sorted((w["email"], w["step"]) for w in verdict.wrongful_sends)
    assert late == [("cy@acme.com", 3), ("dee@gmail.com", 3)]
    assert all(any("open HubSpot deal" in f for f in w["facts"])
               for w in verdict.wrongful_sends)


@pytest.mark.parametrize("website", ["http://Globex.io/", None])
def test_an_open_opportunity_on_the_account_excludes_its_people(scene: Scene,
                                                                website: str | None) -> None:
    """The Account's company is its website's, or with none its Contacts' domain."""
    eve = scene.contact("eve@globex.io")
    account = scene.sandbox.upsert_salesforce("Account", [{"Name": "Globex",
                                                            "Website": website}])
    scene.sandbox.upsert_salesforce("Contact", [{"LastName": "Ode", "Email": "ode@globex.io",
                                                 "AccountId": account[0]["id"]}])
    scene.begin()
    scene.enroll(eve, "1")
    scene.clock(15)
    scene.sandbox.upsert_salesforce("Opportunity", [{
        "Name": "Globex deal", "AccountId": account[0]["id"], "StageName": "Prospecting",
        "CloseDate": "2026-06-01"}])
    scene.clock(60)
    scene.unenroll(eve)
    verdict = scene.verdict()
    assert [w["step"] for w in verdict.wrongful_sends] == [3]
    assert verdict.latencies_min == [45.0]


def test_a_disabled_rule_keeps_excluding_until_its_edit_takes_effect(scene: Scene) -> None:
    fay = scene.contact("fay@initech.com", lifecyclestage="customer")
    scene.begin()
    scene.enroll(fay, "1")
    rule = scene.project / "sql/exclusions/builtin/lifecycle_customer.sql"
    scene.log.append({"time": at(0).isoformat(), "kind": "rule_file",
                      "path": "sql/exclusions/builtin/lifecycle_customer.sql",
                      "text": set_header(rule.read_text(), "enabled", "false")})
    scene.clock(90)
    verdict = scene.verdict(propagation_delay=timedelta(minutes=60))
    # in force until 60: step 2 (sent at 30) is wrongful, steps 3 and 4 are not
    assert [w["step"] for w in verdict.wrongful_sends] == [2]


def test_a_colleague_reply_removes_only_where_the_ruleset_turns_it_on(scene: Scene) -> None:
    hooli = scene.company("hooli.com")
    gus = scene.contact("gus@hooli.com", hooli)
    hal = scene.contact("hal@hooli.com", hooli)
    ida = scene.contact("ida@hooli.com", hooli)
    scene.begin()
    scene.enroll(gus, "2")  # Enterprise outbound: colleague_reply on
    scene.enroll(hal, "1")  # Cold outbound: off
    scene.email(ida, "ida@hooli.com")
    scene.unenroll(gus)
    scene.unenroll(hal)
    verdict = scene.verdict()
    assert [w["email"] for w in verdict.wrongful_removals] == ["hal@hooli.com"]
    assert [r["email"] for r in verdict.removals] == ["gus@hooli.com"]


def test_a_colleague_writing_from_a_private_alias_is_a_colleague_reply(scene: Scene) -> None:
    """The 2026-11-26 soak's finding: an email from ida's private address, logged on no
    contact, is ida writing; seqguard's model says so, and so must the oracle."""
    hooli = scene.company("hooli.com")
    gus = scene.contact("gus@hooli.com", hooli)
    scene.contact("ida@hooli.com", hooli, hs_additional_emails="ida.home@gmail.com")
    scene.begin()
    scene.enroll(gus, "2")  # Enterprise outbound: colleague_reply on
    scene.email(None, "ida.home@gmail.com", subject="A question")
    scene.unenroll(gus)
    verdict = scene.verdict()
    assert verdict.wrongful_removals == []
    assert [r["email"] for r in verdict.removals] == ["gus@hooli.com"]


def test_a_manual_unenroll_is_no_wrongful_removal(scene: Scene) -> None:
    jo = scene.contact("jo@acme.com")
    scene.begin()
    scene.enroll(jo, "1")
    scene.clock(15)
    scene.unenroll(jo)
    scene.log.append({"time": at(15).isoformat(), "kind": "manual_unenroll",
                      "email": "JO@acme.com", "sequence_id": None, "ok": True})
    verdict = scene.verdict()
    assert verdict.wrongful_removals == []
    assert verdict.removals[0]["by"] == "manual"


def test_seqguard_enrolling_a_blocked_person_is_wrongful(scene: Scene) -> None:
    kim = scene.contact("kim@acme.com", lifecyclestage="customer")
    lou = scene.contact("lou@acme.com")
    scene.clock(0)
    scene.email(lou, "rep@example.test", inbound=False, subject="By hand",
                minutes_ago=20 * 24 * 60)  # a manual email 20 days ago
    scene.begin()
    scene.enroll(kim, "1", by_rep=False)   # globally excluded: customer
    scene.enroll(lou, "3", by_rep=False)   # the webinar play's own recent_manual_email
    verdict = scene.verdict()
    assert sorted(w["email"] for w in verdict.wrongful_enrollments) == ["kim@acme.com",
                                                                        "lou@acme.com"]


def test_a_manual_email_blocks_only_the_play_that_asks_for_it(scene: Scene) -> None:
    lou = scene.contact("lou@acme.com")
    scene.email(lou, "rep@example.test", inbound=False, subject="By hand",
                minutes_ago=20 * 24 * 60)
    scene.begin()
    scene.enroll(lou, "1", by_rep=False)
    scene.clock(60)
    verdict = scene.verdict()
    assert verdict.wrongful_enrollments == [] and verdict.wrongful_sends == []


# ---- with the churn --------------------------------------------------------------------

BUSY = Rates(rep_enrollments=150.0, signal_per_enrollment=0.08, form_fills=10.0,
             deals_opened=10.0, deals_moved=10.0, opportunities_opened=10.0,
             opportunities_closed=10.0, stray_replies=10.0, rule_edit_every_steps=4)


def test_a_seqguard_that_does_nothing_lets_wrongful_sends_through(sandbox: SandboxClient,
                                                                  tmp_path: Path) -> None:
    sandbox.set_clock(T0)
    sandbox.reset(seed=5, contacts=400, now=T0)
    project = tmp_path / "project"
    shutil.copytree(ROOT / "sql", project / "sql")
    churn = Churn(sandbox, seed=5, contacts=400, project_dir=project, rates=BUSY)
    churn.setup(T0)
    start, files = oracle.snapshot(sandbox), oracle.read_project(project)
    for i in range(16):
        sandbox.set_clock(at(15 * i))
        churn.step(at(15 * i))
    sandbox.set_clock(at(15 * 16))
    verdict = oracle.judge(oracle.collect(sandbox, start), files, churn.log,
                           send_grid=(T0, timedelta(minutes=15)))
    assert verdict.steps_sent > 0
    assert verdict.wrongful_sends, "a do-nothing seqguard must let excluded people be mailed"
    assert all(w["facts"] for w in verdict.wrongful_sends)
    assert verdict.wrongful_removals == [] and verdict.removals == []
    kinds = {entry["kind"] for entry in churn.log}
    assert {"rep_enroll", "signal", "form_fill", "deal", "rule_file"} <= kinds


def test_the_churn_is_the_same_for_the_same_seed(sandbox: SandboxClient, tmp_path: Path) -> None:
    logs = []
    for run in range(2):
        sandbox.set_clock(T0)
        sandbox.reset(seed=9, contacts=300, now=T0)
        project = tmp_path / f"project{run}"
        shutil.copytree(ROOT / "sql", project / "sql")
        churn = Churn(sandbox, seed=9, contacts=300, project_dir=project, rates=BUSY)
        churn.setup(T0)
        for i in range(5):
            sandbox.set_clock(at(15 * i))
            churn.step(at(15 * i))
        logs.append(churn.log)
    assert logs[0] == logs[1]
    assert len(logs[0]) > 20


@pytest.mark.parametrize(("written_at", "lag", "late_steps"), [
    pytest.param(30, 5, [], id="written-in-time-the-lag-let-one-out"),
    pytest.param(45, 5, [2], id="written-a-cycle-late"),
    pytest.param(30, None, [], id="written-in-time-no-workflow"),
])
def test_steps_the_workflow_let_out_after_a_timely_write_are_not_seqguards(
        scene: Scene, written_at: int, lag: int | None, late_steps: list[int]) -> None:
    """HubSpot's workflow acts `lag` minutes after seqguard's write (or never): a step due
    in between was the workflow's to stop; one before a late write was seqguard's."""
    scene.sandbox.workflow(lag)
    ana = scene.contact("ana@acme.com")
    scene.begin()
    scene.clock(3)
    scene.enroll(ana, "1")                  # steps due at 3, 33, 63, 93
    scene.clock(15)
    scene.email(ana, "ana@acme.com")        # she replies at 15
    scene.clock(30)
    scene.clock(written_at)
    scene.unenroll(ana, reason="c1 replied")
    scene.clock(120)
    verdict = scene.verdict(unenroll_lag=None if lag is None else timedelta(minutes=lag))
    assert [w["step"] for w in verdict.wrongful_sends] == late_steps
    assert verdict.wrongful_removals == [] and verdict.duplicate_writes == []
    sent = [s["step"] for s in scene.sandbox.sent()]
    if lag is None:
        assert sent == [1, 2, 3, 4] and verdict.removals == []
    else:
        assert sent == [1, 2] and verdict.latencies_min == [written_at + lag - 15]


def test_a_decision_written_twice_is_reported(scene: Scene) -> None:
    bo = scene.contact("bo@acme.com")
    scene.begin()
    scene.enroll(bo, "1")
    scene.clock(15)
    scene.unenroll(bo, reason="c7 replied")
    scene.clock(30)
    scene.unenroll(bo, reason="c7 replied")
    verdict = scene.verdict()
    assert [(d["reason"], d["writes"]) for d in verdict.duplicate_writes] == [("c7 replied", 2)]
