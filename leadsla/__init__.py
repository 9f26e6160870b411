"""leadsla: the marketing–sales service level agreement as executable, explainable code.

The public surface is what ``__all__`` lists; everything else lives in private modules.
"""

from leadsla._calendar import BusinessCalendar
from leadsla._conditions import (
    MISSING,
    Check,
    Condition,
    ConditionError,
    Explanation,
    Scope,
    Term,
    Terms,
)
from leadsla._duration import Duration, parse_duration
from leadsla._effects import (
    ActionRequested,
    ActionSkipped,
    Effect,
    OwnerChanged,
    Rejected,
    RuleFired,
    Tagged,
    Transitioned,
)
from leadsla._errors import (
    CalendarError,
    DurationError,
    LeadSLAError,
    NaiveDatetimeError,
    Problem,
)
from leadsla._lead import Because, Lead
from leadsla._lifecycle import Lifecycle, LifecycleError, State, Transition
from leadsla._ownership import (
    AssignmentPolicy,
    AssignmentPolicyLike,
    AssignmentRequest,
    FixedOwner,
    LeastLoaded,
    Owner,
    OwnershipInterval,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
    Team,
)
from leadsla._rules import AddTag, Assign, Fire, Notify, RemoveTag, Rule, RuleSet
from leadsla._version import __version__
from leadsla._workflow import (
    AssignmentBook,
    InvalidTransition,
    RuleLoopError,
    Step,
    Workflow,
    WorkflowError,
)

__all__ = [
    "MISSING",
    "ActionRequested",
    "ActionSkipped",
    "AddTag",
    "Assign",
    "AssignmentBook",
    "AssignmentPolicy",
    "AssignmentPolicyLike",
    "AssignmentRequest",
    "Because",
    "BusinessCalendar",
    "CalendarError",
    "Check",
    "Condition",
    "ConditionError",
    "Duration",
    "DurationError",
    "Effect",
    "Explanation",
    "Fire",
    "FixedOwner",
    "InvalidTransition",
    "Lead",
    "LeadSLAError",
    "LeastLoaded",
    "Lifecycle",
    "LifecycleError",
    "NaiveDatetimeError",
    "Notify",
    "Owner",
    "OwnerChanged",
    "OwnershipInterval",
    "Problem",
    "Rejected",
    "RemoveTag",
    "RoundRobin",
    "Rule",
    "RuleFired",
    "RuleLoopError",
    "RuleRouting",
    "RuleSet",
    "Scope",
    "State",
    "Step",
    "StrictRoundRobin",
    "Tagged",
    "Team",
    "Term",
    "Terms",
    "Transition",
    "Transitioned",
    "Workflow",
    "WorkflowError",
    "__version__",
    "parse_duration",
]
