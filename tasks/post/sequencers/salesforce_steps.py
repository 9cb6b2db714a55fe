"""Where a target is in a Salesforce cadence, from the documented step objects.

An ActionCadenceTracker names no step number. Its `CurrentStepId` and
`LastCompletedStepId` are ActionCadenceStepTracker ids (relationships `CurrentStep`,
`LastCompletedStep`); a step tracker's `ActionCadenceStepId` is the ActionCadenceStep
(Object Reference,
https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_actioncadencetracker.htm).
Steps have no number either: they chain by `StepName` / `ParentStepName` from the one
`Root` step of the cadence ("Cadence Object Relationships",
https://developer.salesforce.com/docs/sales/sales-engagement/guide/sales-cadence-object-relationships.html).
So a step's number here is its position on that chain: the Root is 0, the step after it 1.
Where the chain does not say (a step off the chain, a branch with several steps at one
position) the number is unknown, never guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# the fields read from ActionCadenceStep; orphans are never run (IsOrphan in the reference)
STEP_FIELDS = ("Id", "ActionCadenceId", "StepName", "ParentStepName", "GraphState")
STEP_WHERE = "IsOrphan = false"
LIVE_GRAPH_STATE = "Included"


@dataclass
class CadenceSteps:
    """The steps of some cadences: each step's position, and the live steps per position."""

    position: dict[str, int] = field(default_factory=dict)        # step Id -> position
    live: dict[tuple[str, int], list[str]] = field(default_factory=dict)  # (cadence, n) -> ids

    def add(self, steps: Iterable[dict[str, Any]]) -> None:
        """Place the steps of whole cadences (every non-orphan step of each)."""
        by_cadence: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for step in steps:
            by_cadence[str(step.get("ActionCadenceId") or "")].append(step)
        for cadence, members in by_cadence.items():
            children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
            for step in members:
                children[step.get("ParentStepName") or None].append(step)
            # the Root is the one step without a parent; walk the chain from it
            level, depth, seen = children.get(None, [])[:1], 0, set()
            while level:
                for step in level:
                    self.position[step["Id"]] = depth
                    if step.get("GraphState") in (None, LIVE_GRAPH_STATE):
                        self.live.setdefault((cadence, depth), []).append(step["Id"])
                    seen.add(step["Id"])
                level = [c for s in level for c in children.get(s.get("StepName"), [])
                         if c["Id"] not in seen]
                depth += 1

    def step_at(self, cadence: str, number: int) -> tuple[str | None, str | None]:
        """(the Id of step `number` of `cadence`, None) or (None, why it is unknown)."""
        ids = self.live.get((cadence, number), [])
        if len(ids) == 1:
            return ids[0], None
        if not ids:
            last = max((n for c, n in self.live if c == cadence), default=None)
            have = "no steps seen" if last is None else f"steps 1 to {last}"
            return None, f"cadence {cadence} has no step {number} ({have})"
        return None, (f"cadence {cadence} branches at step {number} ({len(ids)} steps): "
                      "which one the person was on is unknown; re-enroll them by hand")

    def completed(self, tracker: dict[str, Any]) -> int | None:
        """How many steps of its cadence a tracker is past: the position of its last
        completed step, else (nothing completed in this assignment, e.g. one that started
        mid-cadence) the position before its current step; None when unknown. The tracker
        carries its step trackers' ActionCadenceStepId under the relationships
        `LastCompletedStep` and `CurrentStep` (null when there is none)."""
        last = _step_of(tracker, "LastCompletedStep")
        if last:
            return self.position.get(last)
        current = _step_of(tracker, "CurrentStep")
        if current in self.position:
            return max(self.position[current] - 1, 0)
        return None


def _step_of(tracker: dict[str, Any], relationship: str) -> str | None:
    step_tracker = tracker.get(relationship)
    return step_tracker.get("ActionCadenceStepId") if isinstance(step_tracker, dict) else None
