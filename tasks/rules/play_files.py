"""Play files (`sql/plays/<name>.yml` and the audience `.sql` they name): who enters which
sequence, and when, as DESIGN's example writes it. Loaded and checked here; run by the
decide stage (tasks/decide/plays.py). A broken play keeps its problems and runs no one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from tasks.core.config import parse_duration
from tasks.core.errors import ConfigError
from tasks.core.user_files import UserFileError, display_path, read_text, shown
from tasks.rules.files import (
    EMAIL_PATTERN,
    Problem,
    leading_blank_lines,
    read_yaml,
    user_roots,
)
from tasks.rules.statements import statement_problem

PLAY_KEYS = ("play", "sequence", "audience", "trigger", "delay", "exclusions",
             "allow_reenrollment", "max_enrollments_per_company", "sender", "enabled")


TRIGGERS = ("crm_event", "schedule", "manual")


CRM_EVENT_DELAY = (timedelta(minutes=20), timedelta(minutes=30))




@dataclass
class Play:
    """One `sql/plays/<name>.yml` and its audience SQL (loaded and checked; run elsewhere)."""

    name: str
    path: Path
    display: str
    sequence: str | None = None
    audience: str | None = None
    audience_path: Path | None = None
    audience_display: str | None = None
    audience_sql: str = ""
    audience_sql_line: int = 1
    trigger: str | None = None
    delay: timedelta = timedelta(0)
    exclusions: list[str] = field(default_factory=list)
    allow_reenrollment: bool = False
    max_enrollments_per_company: int | None = None
    sender: str = "owner"
    enabled: bool = True
    lines: dict[tuple, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def runnable(self) -> bool:
        return not self.problems

    def line(self, key: str) -> int:
        return self.lines.get((key,), 1)

    def problem(self, key: str, message: str) -> None:
        self.problems.append(Problem(self.display, self.line(key), message))


def load_play(path: Path, root: Path) -> Play:
    """Parse and check one play file (format exactly as DESIGN's example)."""
    play = Play(name=path.stem, path=path, display=display_path(path, root))
    data, play.lines, problem = read_yaml(path, play.display, root)
    if problem:
        play.problems.append(problem)
        return play
    if not isinstance(data, dict):
        play.problems.append(Problem(play.display, 1, "expected a mapping of play settings "
                                                      "(play, sequence, audience, trigger, ...)"))
        return play
    for key in data:
        if key not in PLAY_KEYS:
            play.problem(str(key), f"unknown key '{shown(key)}'; use {', '.join(PLAY_KEYS)}")
    for key in ("play", "sequence", "audience", "trigger"):
        if key not in data:
            play.problems.append(Problem(play.display, 1, f"'{key}' is missing; add `{key}: ...`"))
    name = data.get("play")
    if name is not None and name != path.stem:
        play.problem("play", f"play name '{shown(name)}' differs from the file name "
                             f"'{shown(path.name)}'; rename one so they match")
    if "sequence" in data:
        play.sequence = str(data["sequence"]) if data["sequence"] not in (None, "") else None
        if play.sequence is None:
            play.problem("sequence", "sequence is empty; name the sequence (id or name at the "
                                     "sequencer)")
    _play_trigger_and_delay(play, data)
    _play_audience(play, data, root)
    _play_options(play, data)
    return play


def _play_trigger_and_delay(play: Play, data: dict[str, Any]) -> None:
    trigger = data.get("trigger")
    if trigger is not None and trigger not in TRIGGERS:
        play.problem("trigger", f"trigger '{shown(trigger)}' is not one of {', '.join(TRIGGERS)}")
    play.trigger = trigger if trigger in TRIGGERS else None
    default = "30m" if trigger == "crm_event" else "0"
    try:
        play.delay = parse_duration(data.get("delay", default), "delay")
    except ConfigError:
        play.problem("delay", f"delay '{shown(data.get('delay'))}' is not a duration; "
                              "write e.g. 30m")
        return
    low, high = CRM_EVENT_DELAY
    if trigger == "crm_event" and not low <= play.delay <= high:
        play.problem("delay", f"delay {data.get('delay')} is outside 20m..30m for a crm_event "
                              "play; pick a delay between 20m and 30m")
    elif trigger in ("schedule", "manual") and play.delay:
        play.problem("delay", f"a {trigger} play has no delay; remove `delay:` or write 0")


def _play_audience(play: Play, data: dict[str, Any], root: Path) -> None:
    audience = data.get("audience")
    if audience is None:
        return
    if (not isinstance(audience, str) or not audience.endswith(".sql")
            or Path(audience).name != audience):
        play.problem("audience", "audience must name a .sql file beside the play, e.g. "
                                 f"{play.name}.sql")
        return
    play.audience = audience
    play.audience_path = play.path.parent / audience
    play.audience_display = display_path(play.audience_path, root)
    if not play.audience_path.exists() and not play.audience_path.is_symlink():
        play.problem("audience", f"audience file {play.audience_display} does not exist; "
                                 "create it or fix the name")
        return
    try:
        lines = read_text(play.audience_path, play.audience_display,
                          user_roots(root)).splitlines()
    except UserFileError as exc:
        play.problems.append(Problem(play.audience_display, exc.line, exc.message))
        return
    play.audience_sql = "\n".join(lines).strip("\n")
    play.audience_sql_line = 1 + leading_blank_lines(lines)
    problem = statement_problem(play.audience_sql)
    if problem:
        play.problems.append(Problem(play.audience_display, play.audience_sql_line + problem[0] - 1,
                                     problem[1]))


def _play_options(play: Play, data: dict[str, Any]) -> None:
    exclusions = data.get("exclusions", []) or []
    if not isinstance(exclusions, list) or not all(isinstance(x, str) for x in exclusions):
        play.problem("exclusions", "exclusions must be a list of rule names, e.g. "
                                   "[recent_manual_email]")
        exclusions = []
    play.exclusions = exclusions
    for key in ("allow_reenrollment", "enabled"):
        value = data.get(key, key == "enabled")
        if not isinstance(value, bool):
            play.problem(key, f"{key} is '{shown(value)}'; write true or false")
            value = key == "enabled"
        setattr(play, key, value)
    cap = data.get("max_enrollments_per_company")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        play.problem("max_enrollments_per_company",
                     f"max_enrollments_per_company is '{shown(cap)}'; write a whole number of 1 "
                     "or more")
        cap = None
    play.max_enrollments_per_company = cap
    sender = str(data.get("sender", "owner"))
    if sender != "owner" and not EMAIL_PATTERN.match(sender):
        play.problem("sender", f"sender '{shown(sender)}' is neither owner nor an email address")
    play.sender = sender
