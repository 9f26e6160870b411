"""leadsla: the marketing–sales service level agreement as executable, explainable code.

The public surface is what ``__all__`` lists; everything else lives in private modules.
"""

from leadsla._calendar import BusinessCalendar
from leadsla._duration import Duration, parse_duration
from leadsla._errors import (
    CalendarError,
    DurationError,
    LeadSLAError,
    NaiveDatetimeError,
    Problem,
)
from leadsla._version import __version__

__all__ = [
    "BusinessCalendar",
    "CalendarError",
    "Duration",
    "DurationError",
    "LeadSLAError",
    "NaiveDatetimeError",
    "Problem",
    "__version__",
    "parse_duration",
]
