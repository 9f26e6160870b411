"""The lifecycle table: the default (docs/explanation/default-agreement.md), validation,
diagrams and its plain-data form."""

from __future__ import annotations

from typing import Any

import pytest

from leadsla import Condition, Lifecycle, LifecycleError, State, Transition

DEFAULT_MOVES = {
    ("lead", "qualify"): "mql",
    ("mql", "accept"): "sal",
    ("mql", "reject"): "handback",
    ("sal", "qualify_sales"): "sql",
    ("sql", "win"): "won",
    ("sql", "lose"): "lost",
    ("mql", "nurture"): "nurture",
    ("sal", "nurture"): "nurture",
    ("sql", "nurture"): "nurture",
    ("mql", "hand_back"): "handback",
    ("sal", "hand_back"): "handback",
    ("nurture", "requalify"): "mql",
    ("handback", "requalify"): "mql",
    **{
        (state, "disqualify"): "disqualified"
        for state in ("lead", "mql", "sal", "sql", "nurture", "handback")
    },
}


def test_default_lifecycle_has_the_states_and_owners_of_the_spec() -> None:
    """States, owning teams and terminal flags are those of the default agreement's table."""
    lifecycle = Lifecycle.default()
    owners = {state.name: (state.owner, state.terminal) for state in lifecycle.states}
    assert owners == {
        "lead": ("marketing", False),
        "mql": ("sales", False),
        "sal": ("sales", False),
        "sql": ("sales", False),
        "won": ("sales", True),
        "lost": ("sales", True),
        "nurture": ("marketing", False),
        "handback": ("marketing", False),
        "disqualified": ("marketing", True),
    }
    assert lifecycle.initial == "lead"


def test_default_lifecycle_has_exactly_the_transitions_of_the_spec() -> None:
    """Every (state, trigger) pair of the default agreement's table, and no other."""
    lifecycle = Lifecycle.default()
    moves = {
        (source, transition.trigger): transition.dest
        for transition in lifecycle.transitions
        for source in transition.sources
    }
    assert moves == DEFAULT_MOVES


def test_default_guards_and_reasons() -> None:
    """qualify needs the mql term, qualify_sales the sql term; backward moves need a reason."""
    lifecycle = Lifecycle.default()
    guards = {t.trigger: t.guard for t in lifecycle.transitions if t.guard is not None}
    assert guards == {"qualify": Condition("mql"), "qualify_sales": Condition("sql")}
    with_reason = {t.trigger for t in lifecycle.transitions if t.requires_reason}
    assert with_reason == {"reject", "lose", "nurture", "hand_back", "requalify", "disqualify"}


def test_every_problem_is_listed_at_once() -> None:
    """Unknown states, unreachable states, dead ends, exits from terminal states and ambiguous
    triggers are all reported together."""
    with pytest.raises(LifecycleError) as caught:
        Lifecycle(
            states=[
                State("new", "marketing"),
                State("open", "sales"),
                State("orphan", "sales"),
                State("done", "sales", terminal=True),
                State("stuck", "sales"),
            ],
            transitions=[
                Transition("go", "new", "open"),
                Transition("go", "new", "stuck"),
                Transition("finish", "open", "done"),
                Transition("reopen", "done", "open"),
                Transition("jump", "open", "nowhere"),
                Transition("back", "opne", "new"),
            ],
            initial="new",
        )
    messages = [str(problem) for problem in caught.value.problems]
    assert any(
        "'transitions[4] (jump).dest' is not a known state (got 'nowhere')" in m for m in messages
    )
    assert any("(got 'opne')" in m and "did you mean 'open'?" in m for m in messages)
    assert any("leaves a terminal state (got 'done')" in m for m in messages)
    assert any("is ambiguous: 'go' is defined twice from 'new'" in m for m in messages)
    # Reachability and dead ends are reported in the same pass, on the well-formed moves.
    assert any(
        "'states.orphan' cannot be reached from the initial state 'new'" in m for m in messages
    )
    assert any("'states.orphan' is not terminal but no transition leaves it" in m for m in messages)
    assert any("'states.stuck' is not terminal but no transition leaves it" in m for m in messages)
    assert len(messages) == 7


def test_unreachable_and_dead_end_states_are_reported() -> None:
    """A state no transition reaches, and a non-terminal state with no way out."""
    with pytest.raises(LifecycleError) as caught:
        Lifecycle(
            states=[
                State("new", "marketing"),
                State("stuck", "sales"),
                State("orphan", "sales", terminal=True),
            ],
            transitions=[Transition("go", "new", "stuck")],
            initial="new",
        )
    assert [str(problem) for problem in caught.value.problems] == [
        "'states.orphan' cannot be reached from the initial state 'new' (got 'orphan'); "
        "add a transition into it, or remove it",
        "'states.stuck' is not terminal but no transition leaves it (got 'stuck'); "
        "add a transition out of it, or mark the state terminal",
    ]


def test_unknown_initial_state() -> None:
    """The initial state must be one of the states."""
    with pytest.raises(LifecycleError, match=r"'initial' is not a known state \(got 'leed'\)"):
        Lifecycle(
            states=[State("lead", "marketing", terminal=True)], transitions=[], initial="leed"
        )


def test_duplicate_states_and_missing_owner() -> None:
    """A state defined twice, or without an owning team, is refused."""
    with pytest.raises(LifecycleError) as caught:
        Lifecycle(
            states=[State("a", "x", terminal=True), State("a", "", terminal=True)],
            transitions=[],
            initial="a",
        )
    fields = [problem.field for problem in caught.value.problems]
    assert fields == ["states.a", "states.a.owner"]


def test_any_state_expands_to_every_non_terminal_state() -> None:
    """Sources ``"*"`` mean every non-terminal state but the destination."""
    lifecycle = Lifecycle(
        states=[
            State("a", "t"),
            State("b", "t"),
            State("c", "t", terminal=True),
            State("x", "t", terminal=True),
        ],
        transitions=[
            Transition("next", "a", "b"),
            Transition("end", "b", "c"),
            Transition("drop", "*", "x", requires_reason=True),
        ],
        initial="a",
    )
    drop = next(t for t in lifecycle.transitions if t.trigger == "drop")
    assert drop.sources == ("a", "b")


def test_lookups() -> None:
    """find, transitions_from, owner_of and state answer from the table."""
    lifecycle = Lifecycle.default()
    qualify = lifecycle.find("lead", "qualify")
    assert qualify is not None
    assert qualify.dest == "mql"
    assert lifecycle.find("lead", "win") is None
    assert [t.trigger for t in lifecycle.transitions_from("sql")] == [
        "win",
        "lose",
        "nurture",
        "disqualify",
    ]
    assert lifecycle.owner_of("nurture") == "marketing"
    with pytest.raises(LifecycleError, match=r"did you mean 'nurture'"):
        lifecycle.state("nurtre")


def test_mermaid_diagram_has_every_move() -> None:
    """The Mermaid diagram draws each (source, trigger, dest) from the table."""
    text = Lifecycle.default().to_mermaid()
    assert text.startswith("stateDiagram-v2\n    [*] --> lead\n")
    for (source, trigger), dest in DEFAULT_MOVES.items():
        assert f"    {source} --> {dest}: {trigger}" in text
    assert "sal --> sql: qualify_sales [sql]" in text
    assert '    state "nurture (marketing)" as nurture' in text
    assert "    won --> [*]" in text


def test_dot_diagram_has_every_move_and_a_cluster_per_team() -> None:
    """The Graphviz diagram draws each move and groups states by owning team."""
    text = Lifecycle.default().to_dot()
    assert text.startswith("digraph lifecycle {")
    assert text.rstrip().endswith("}")
    for (source, trigger), dest in DEFAULT_MOVES.items():
        assert f'"{source}" -> "{dest}" [label="{trigger}' in text
    assert 'subgraph "cluster_marketing"' in text
    assert 'subgraph "cluster_sales"' in text
    assert text.count("{") == text.count("}")


def test_plain_data_round_trip() -> None:
    """``from_dict(to_dict())`` gives an equal lifecycle."""
    lifecycle = Lifecycle.default()
    assert Lifecycle.from_dict(lifecycle.to_dict()) == lifecycle


def test_bad_guard_is_refused_when_the_transition_is_made() -> None:
    """A guard that does not parse fails at construction, naming the field."""
    from leadsla import ConditionError

    with pytest.raises(ConditionError, match=r"'guard' is not a valid expression"):
        Transition("go", "a", "b", guard="score >=")


def test_dot_entry_point_never_clashes_with_a_state() -> None:
    """A state named ``start`` stays its own node."""
    lifecycle = Lifecycle(
        states=[State("start", "t"), State("end", "t", terminal=True)],
        transitions=[Transition("go", "start", "end")],
        initial="start",
    )
    text = lifecycle.to_dot()
    assert '"[*]" -> "start";' in text
    assert '"start" -> "start"' not in text


# -- "*" is every non-terminal state of the lifecycle it ends up in -------------------------------


def _with_review(lifecycle: Lifecycle) -> Lifecycle:
    """The lifecycle with a ``review`` state between sql and won, its transitions reused."""
    return Lifecycle(
        states=[*lifecycle.states, State("review", "sales")],
        transitions=[
            *lifecycle.transitions,
            Transition("review", "sql", "review"),
            Transition("close", "review", "won"),
        ],
        initial=lifecycle.initial,
    )


def test_a_state_added_to_the_default_lifecycle_can_be_disqualified() -> None:
    """The default's ``disqualify`` (from "*") reaches a state added in Python later."""
    custom = _with_review(Lifecycle.default())
    disqualify = custom.find("review", "disqualify")
    assert disqualify is not None
    assert disqualify.dest == "disqualified"
    assert disqualify.declared_sources == ("*",)


def test_to_dict_keeps_any_state_as_written() -> None:
    """The plain data says "*", so a state added to the data is a source as well."""
    data = Lifecycle.default().to_dict()
    [disqualify] = [t for t in data["transitions"] if t["trigger"] == "disqualify"]
    assert disqualify["sources"] == ["*"]
    data["states"]["review"] = {"owner": "sales"}
    data["transitions"] += [
        {"trigger": "review", "sources": ["sql"], "dest": "review"},
        {"trigger": "close", "sources": ["review"], "dest": "won"},
    ]
    assert Lifecycle.from_dict(data).find("review", "disqualify") is not None


def test_a_reused_any_state_transition_drops_states_that_are_gone() -> None:
    """A "*" transition taken into a lifecycle without some states covers only the states left."""
    default = Lifecycle.default()
    kept = {"lead", "mql", "won", "disqualified"}
    lifecycle = Lifecycle(
        states=[state for state in default.states if state.name in kept],
        transitions=[
            Transition("qualify", "lead", "mql"),
            Transition("win", "mql", "won"),
            next(t for t in default.transitions if t.trigger == "disqualify"),
        ],
        initial="lead",
    )
    disqualify = lifecycle.find("mql", "disqualify")
    assert disqualify is not None
    assert disqualify.sources == ("lead", "mql")


# -- from_dict reads the plain-data form strictly -------------------------------------------------


def _small() -> dict[str, Any]:
    return {
        "initial": "new",
        "states": {"new": {"owner": "sales"}, "done": {"owner": "sales", "terminal": True}},
        "transitions": [{"trigger": "finish", "sources": ["new"], "dest": "done", "guard": "x"}],
    }


@pytest.mark.parametrize(
    ("where", "key", "typo", "field"),
    [
        ((), "initial", "intial", "intial"),
        (("states", "done"), "terminal", "termnial", "states.done.termnial"),
        (("transitions", 0), "guard", "gaurd", "transitions[0].gaurd"),
    ],
)
def test_from_dict_refuses_unknown_keys(
    where: tuple[Any, ...], key: str, typo: str, field: str
) -> None:
    """A misspelt key is an error naming the known keys and the closest one, not ignored."""
    data = _small()
    table: Any = data
    for part in where:
        table = table[part]
    table[typo] = table.pop(key)
    with pytest.raises(LifecycleError) as caught:
        Lifecycle.from_dict(data)
    [problem] = caught.value.problems
    assert problem.field == field
    assert problem.message == "is not a known key here"
    assert problem.fix.startswith("use ")
    assert problem.fix.endswith(f"(did you mean {key!r}?)")


def test_from_dict_refuses_values_of_the_wrong_kind() -> None:
    """``terminal = "false"`` is not read as true, and a guard must be text; all at once."""
    data = _small()
    data["states"]["new"]["terminal"] = "false"
    data["transitions"][0]["guard"] = 5
    data["transitions"][0]["sources"] = [1]
    with pytest.raises(LifecycleError) as caught:
        Lifecycle.from_dict(data)
    assert [str(problem) for problem in caught.value.problems] == [
        "'states.new.terminal' must be true or false (got 'false'); write terminal = true",
        "'transitions[0].guard' must be a condition written as text (got 5); "
        'write e.g. guard = "sql"',
        "'transitions[0].sources' must be a list of state names (got [1]); "
        'write sources = ["mql", "sal"], or "*" for every non-terminal state',
    ]


def test_from_dict_names_missing_keys_and_bad_guards() -> None:
    """A missing owner and a guard that does not parse are named by their place in the data."""
    data = _small()
    del data["states"]["new"]["owner"]
    data["transitions"][0]["guard"] = "x >"
    with pytest.raises(LifecycleError) as caught:
        Lifecycle.from_dict(data)
    assert [problem.field for problem in caught.value.problems] == [
        "states.new.owner",
        "transitions[0].guard",
    ]
    assert caught.value.problems[0].message == "is missing"


def test_a_stage_must_be_a_whole_number() -> None:
    """A stage of text or below 0 is refused, whether built in Python or read from data."""
    with pytest.raises(LifecycleError) as caught:
        Lifecycle(
            states=[State("a", "t", stage=-1), State("b", "t", terminal=True, stage="2")],  # type: ignore[arg-type]
            transitions=[Transition("go", "a", "b")],
            initial="a",
        )
    assert [(problem.field, problem.value) for problem in caught.value.problems] == [
        ("states.a.stage", -1),
        ("states.b.stage", "2"),
    ]
