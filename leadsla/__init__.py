"""leadsla: the marketing–sales service level agreement as executable, explainable code.

The public surface is what ``__all__`` lists; everything else lives in private modules.
"""

from leadsla._core.agreement import Agreement, CalendarOwners
from leadsla._core.calendar import BusinessCalendar
from leadsla._core.clocks import ObligationState
from leadsla._core.conditions import (
    MISSING,
    Check,
    Condition,
    Explanation,
    FieldType,
    Term,
    Terms,
)
from leadsla._core.duration import Duration
from leadsla._core.effects import (
    ActionRequested,
    ActionSkipped,
    Because,
    Converted,
    Duplicate,
    Effect,
    Erased,
    HeldOutside,
    Merged,
    Migrated,
    ObligationBreached,
    ObligationCancelled,
    ObligationEscalated,
    ObligationMet,
    ObligationOpened,
    ObligationPaused,
    ObligationResumed,
    ObligationRetargeted,
    ObligationWarned,
    OwnerChanged,
    Rejected,
    Retracted,
    RuleFired,
    Tagged,
    Transitioned,
    effect_to_dict,
)
from leadsla._core.engine import Decision, Engine
from leadsla._core.errors import (
    AgreementError,
    CalendarError,
    ConditionError,
    CsvError,
    DurationError,
    EventError,
    EventRejected,
    InvalidTransition,
    LeadSLAError,
    LifecycleError,
    NaiveDatetimeError,
    ObligationError,
    Problem,
    RuleLoopError,
    StoreError,
    UsageError,
    WorkflowError,
)
from leadsla._core.events import (
    ActivityLogged,
    Event,
    LeadConverted,
    LeadCreated,
    LeadErased,
    LeadMerged,
    LeadMigrated,
    LeadUpdated,
    OwnerAssigned,
    TransitionRequested,
)
from leadsla._core.funnel import Commitment, Coverage, Funnel, Goal, Stage
from leadsla._core.lead import Lead, Standing
from leadsla._core.lifecycle import Lifecycle, State, Transition
from leadsla._core.obligations import (
    ActivityMatch,
    Attempts,
    Escalate,
    ObligationSpec,
    PauseWhile,
    Tier,
    Warn,
    When,
)
from leadsla._core.ownership import (
    AssignmentPolicy,
    AssignmentRequest,
    FixedOwner,
    LeastLoaded,
    Owner,
    OwnershipInterval,
    Person,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
    Team,
)
from leadsla._core.rules import AddTag, Assign, Fire, Notify, RemoveTag, Rule, RuleSet
from leadsla._core.tally import Volume
from leadsla._core.versions import Versions
from leadsla._core.views import Due, LeadView
from leadsla._core.workflow import Step, Workflow
from leadsla._shell.agreement_write import agreement_to_data, agreement_to_toml
from leadsla._shell.columns import Column
from leadsla._shell.csv import (
    CsvMapping,
    EventTemplate,
    ValueMap,
    csv_events,
    csv_events_from_text,
)
from leadsla._shell.dispatch import Delivered, Dispatcher, EffectHandler
from leadsla._shell.importing import (
    Imported,
    ImportReport,
    ImportStream,
    Refused,
    import_sources,
    stream_sources,
)
from leadsla._shell.keeping import OutboxItem, Store
from leadsla._shell.migrate import migrate
from leadsla._shell.postgres import PostgresStore
from leadsla._shell.replay import Replay, replay
from leadsla._shell.report import (
    FunnelStep,
    GoalVolume,
    ObligationScore,
    PeriodCard,
    Reason,
    TimeToMeet,
    WeekScore,
    render_scorecard,
    scorecard,
    scorecard_data,
)
from leadsla._shell.simulate import simulate
from leadsla._shell.store import SqliteStore
from leadsla._shell.summary import render_summary
from leadsla._version import __version__

__all__ = [
    "MISSING",
    "ActionRequested",
    "ActionSkipped",
    "ActivityLogged",
    "ActivityMatch",
    "AddTag",
    "Agreement",
    "AgreementError",
    "Assign",
    "AssignmentPolicy",
    "AssignmentRequest",
    "Attempts",
    "Because",
    "BusinessCalendar",
    "CalendarError",
    "CalendarOwners",
    "Check",
    "Column",
    "Commitment",
    "Condition",
    "ConditionError",
    "Converted",
    "Coverage",
    "CsvError",
    "CsvMapping",
    "Decision",
    "Delivered",
    "Dispatcher",
    "Due",
    "Duplicate",
    "Duration",
    "DurationError",
    "Effect",
    "EffectHandler",
    "Engine",
    "Erased",
    "Escalate",
    "Event",
    "EventError",
    "EventRejected",
    "EventTemplate",
    "Explanation",
    "FieldType",
    "Fire",
    "FixedOwner",
    "Funnel",
    "FunnelStep",
    "Goal",
    "GoalVolume",
    "HeldOutside",
    "ImportReport",
    "ImportStream",
    "Imported",
    "InvalidTransition",
    "Lead",
    "LeadConverted",
    "LeadCreated",
    "LeadErased",
    "LeadMerged",
    "LeadMigrated",
    "LeadSLAError",
    "LeadUpdated",
    "LeadView",
    "LeastLoaded",
    "Lifecycle",
    "LifecycleError",
    "Merged",
    "Migrated",
    "NaiveDatetimeError",
    "Notify",
    "ObligationBreached",
    "ObligationCancelled",
    "ObligationError",
    "ObligationEscalated",
    "ObligationMet",
    "ObligationOpened",
    "ObligationPaused",
    "ObligationResumed",
    "ObligationRetargeted",
    "ObligationScore",
    "ObligationSpec",
    "ObligationState",
    "ObligationWarned",
    "OutboxItem",
    "Owner",
    "OwnerAssigned",
    "OwnerChanged",
    "OwnershipInterval",
    "PauseWhile",
    "PeriodCard",
    "Person",
    "PostgresStore",
    "Problem",
    "Reason",
    "Refused",
    "Rejected",
    "RemoveTag",
    "Replay",
    "Retracted",
    "RoundRobin",
    "Rule",
    "RuleFired",
    "RuleLoopError",
    "RuleRouting",
    "RuleSet",
    "SqliteStore",
    "Stage",
    "Standing",
    "State",
    "Step",
    "Store",
    "StoreError",
    "StrictRoundRobin",
    "Tagged",
    "Team",
    "Term",
    "Terms",
    "Tier",
    "TimeToMeet",
    "Transition",
    "TransitionRequested",
    "Transitioned",
    "UsageError",
    "ValueMap",
    "Versions",
    "Volume",
    "Warn",
    "WeekScore",
    "When",
    "Workflow",
    "WorkflowError",
    "__version__",
    "agreement_to_data",
    "agreement_to_toml",
    "csv_events",
    "csv_events_from_text",
    "effect_to_dict",
    "import_sources",
    "migrate",
    "render_scorecard",
    "render_summary",
    "replay",
    "scorecard",
    "scorecard_data",
    "simulate",
    "stream_sources",
]


def _present_as_public() -> None:
    """Public classes say they are ``leadsla.X``: tracebacks, reprs and docs show the name a
    user imports, not the private module it happens to live in."""
    for name in __all__:
        value = globals()[name]
        if isinstance(value, type) and value.__module__.startswith("leadsla._"):
            value.__module__ = __name__


_present_as_public()
