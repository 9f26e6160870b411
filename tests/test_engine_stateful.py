"""The engine under a Hypothesis state machine (leadsla.testing.EngineMachine).

Random sequences of events (new, repeated, older than the clock) and advances, on the default
agreement and on one without declared fields; every clock consistent after each step, refused
and repeated events change nothing, a replay of the same inputs gives the same effects.
"""

from __future__ import annotations

from datetime import datetime

import attrs
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from leadsla import Agreement, Effect, Engine
from leadsla.testing import EngineMachine

QUICK = settings(
    max_examples=25,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class DefaultMachine(EngineMachine):
    pass


class UndeclaredFieldsMachine(EngineMachine):
    """Fields come from the names the terms and rules read."""

    agreement = attrs.evolve(Agreement.default(), fields={})


TestDefaultAgreement = DefaultMachine.TestCase
TestDefaultAgreement.settings = QUICK
TestUndeclaredFields = UndeclaredFieldsMachine.TestCase
TestUndeclaredFields.settings = QUICK


class LongDefaultMachine(EngineMachine):
    leads = 4


TestLongRun = pytest.mark.slow(LongDefaultMachine.TestCase)
TestLongRun.settings = settings(
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class _ForgetfulEngine(Engine):
    """An engine that loses the timers' effects whenever it is asked to advance."""

    __slots__ = ()

    def advance(self, now: datetime) -> list[Effect]:
        super().advance(now)
        return []


class _ForgetfulMachine(EngineMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = _ForgetfulEngine(self.used)


def test_the_machine_catches_an_engine_that_loses_effects() -> None:
    """The checks can fail: a replay into a sound engine shows the effects it lost."""
    with pytest.raises(AssertionError, match="a replay gave other effects"):
        run_state_machine_as_test(
            _ForgetfulMachine,
            settings=settings(
                max_examples=200,
                stateful_step_count=30,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],  # finding it is the point; shrinking takes long
                suppress_health_check=list(HealthCheck),
            ),
        )
