"""The one-page summary of an agreement, generated from the values the engine enforces.

The summary says in plain words what the agreement file says as rules, so the page people sign
and the code that runs cannot drift apart: the definitions (terms, with their descriptions and
conditions), the goal and the volumes it implies, each party's commitments (volumes, and every
obligation with its clock, calendar, warnings and breach actions), who owns a lead in each
state, how leads move back (rules, handbacks, reasons), the working hours, and the tracking
period and review meetings.

One neutral structure (:class:`Section` of paragraphs, bullet lists and tables) is rendered
three ways: plain text, Markdown and HTML. The HTML is one self-contained file, sized for an A4
page (``@page``), with every piece of text escaped.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from typing import Final, Literal

from attrs import frozen

from leadsla._core.agreement import Agreement
from leadsla._core.conditions import Condition
from leadsla._core.errors import AgreementError, Problem
from leadsla._core.funnel import Commitment
from leadsla._core.obligations import ActivityMatch, Escalate, ObligationSpec, When
from leadsla._core.ownership import (
    FixedOwner,
    LeastLoaded,
    RoundRobin,
    RuleRouting,
    StrictRoundRobin,
    Team,
)
from leadsla._core.periods import per
from leadsla._core.rules import AddTag, Assign, Fire, Notify, RemoveTag, Rule
from leadsla._shell.render import markdown_text

__all__ = ["Format", "render_summary", "summary_sections"]

Format = Literal["text", "md", "html"]


@frozen
class Section:
    """A titled part of the page: paragraphs, then bullets, then a table."""

    title: str
    paragraphs: tuple[str, ...] = ()
    bullets: tuple[str, ...] = ()
    table: tuple[tuple[str, ...], ...] = ()  # first row is the header


# ------------------------------------------------------------------------------------------
# Words for the agreement's parts.


def _state(name: str) -> str:
    """mql -> MQL: short names without the vowels e, i, o, u read as acronyms; words (won,
    nurture, handback) stay words."""
    acronym = len(name) <= 3 and not any(vowel in name for vowel in "eiou")
    return name.upper() if acronym else name


def _either(names: Sequence[str], word: str = "or") -> str:
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {word} {names[-1]}"


def _article(word: str) -> str:
    return f"an {word}" if word[:1].lower() in "aeiou" else f"a {word}"


def _activity(match: ActivityMatch | None) -> str:
    if match is None or not match.kinds:
        what = "an activity"
    else:
        what = _article(_either(list(match.kinds)))
    if match is not None and match.outcomes:
        what += f" with outcome {_either(list(match.outcomes))}"
    return what


def _when_start(when: When) -> str:
    parts = [f"a lead entering {_either([_state(s) for s in when.states])}"] if when.states else []
    parts += (
        [f"a lead leaving {_either([_state(s) for s in when.leaving])}"] if when.leaving else []
    )
    if when.activity is not None:
        parts.append(_activity(when.activity) + " being logged")
    parts += [kind.replace("_", " ") for kind in when.events if kind != "activity"]
    text = _either(parts) or "the condition becoming true"
    if when.condition is not None:
        text += f" while {when.condition}"
    return text


def _promise(spec: ObligationSpec) -> str:
    attempts = spec.attempts
    if attempts is not None:
        kinds = _either(list(attempts.counts.kinds)) or "any activity"
        text = f"makes at least {attempts.count} attempts ({kinds})"
        if attempts.reached is not None:
            reached = _activity(attempts.reached).removeprefix("an activity ")
            text += f" unless the lead is reached ({reached})"
        return text
    met = spec.met
    if met is None:
        return "acts"
    parts = []
    if met.activity is not None:
        by = " by the lead's owner" if met.activity.by == "owner" else ""
        parts.append(f"logs {_activity(met.activity)}{by}")
    if met.states:
        parts.append(f"moves the lead to {_either([_state(s) for s in met.states])}")
    if met.leaving:
        parts.append(f"moves the lead out of {_either([_state(s) for s in met.leaving])}")
    parts += [f"sees {kind.replace('_', ' ')}" for kind in met.events if kind != "activity"]
    if met.condition is not None:
        parts.append(f"makes {met.condition} true")
    return _either(parts)


def _manager(agreement: Agreement, party: str) -> str:
    team = agreement.team(party)
    if team is not None and team.manager:
        return f"the {party} manager ({team.manager})"
    return f"the {party} manager"


def _person(agreement: Agreement, to: str, party: str) -> str:
    """Whom an action names: the manager by name when the agreement has one, "the lead's
    owner" for ``owner``."""
    if to == "manager":
        return _manager(agreement, party)
    return "the lead's owner" if to == "owner" else to


def _action(agreement: Agreement, action: object, party: str) -> str:
    if isinstance(action, Escalate):
        return f"escalate to {_person(agreement, action.to, party)}"
    if isinstance(action, Fire):
        dests = {t.dest for t in agreement.lifecycle.transitions if t.trigger == action.trigger}
        where = (
            f"the lead goes to {_either([_state(d) for d in sorted(dests)])}"
            if dests
            else action.trigger
        )
        return where + (f" (reason {action.reason})" if action.reason else "")
    if isinstance(action, Assign):
        return f"the lead goes to {action.person}" if action.person else "the lead is reassigned"
    if isinstance(action, AddTag):
        return f"the lead is tagged {action.tag}"
    if isinstance(action, RemoveTag):
        return f"the tag {action.tag} is removed"
    if isinstance(action, Notify):
        return f"{_person(agreement, action.to, party)} is notified"
    return type(action).__name__


_WHOSE_HOURS: Final = {
    "owner": "the working hours of the lead's owner",
    "team": "the working hours of the team that owns the lead",
    "region": "the working hours of the lead's region",
}


def _calendar_note(agreement: Agreement, spec: ObligationSpec) -> str:
    if not spec.within.business:
        return ""
    if spec.calendar in _WHOSE_HOURS:
        return f" (on {_WHOSE_HOURS[spec.calendar]})"
    try:
        return f" ({agreement.calendar(spec.calendar or agreement.default_calendar).describe()})"
    except KeyError:
        return ""


def _tiers_note(spec: ObligationSpec) -> str:
    """``; within 1 business hour for a lead that has employees >= 1000 (tier enterprise),
    the first that applies, chosen when the clock starts``"""
    if not spec.tiers:
        return ""
    tiers = [
        f"within {tier.within} for a lead that has {tier.when} (tier {tier.name})"
        for tier in spec.tiers
    ]
    when = (
        "chosen when the clock starts and again whenever the lead's fields change"
        if spec.retier
        else "chosen when the clock starts"
    )
    first = ", the first that applies" if len(tiers) > 1 else ""
    return f"; {_either(tiers, 'and')}{first}, {when}"


def ladder_sentences(agreement: Agreement, spec: ObligationSpec) -> list[str]:
    """The escalation ladder in words: ``Warning when 75% of the time is used: the owner is
    notified.`` and ``After the deadline, while not met: 1 business day after, dana is
    notified.``"""
    before: list[str] = []
    after: list[str] = []
    for step in spec.warnings:
        if step.after is not None:
            when = f"{step.after} after"
        elif step.before is not None:
            when = f"{step.before} before the deadline"
        else:
            assert step.fraction is not None
            when = f"when {float(step.fraction):.0%} of the time is used"
        if step.actions:
            actions = [_action(agreement, action, spec.party) for action in step.actions]
            when += f": {_either(actions, 'and')}"
        (after if step.after is not None else before).append(when)
    sentences = []
    if len(before) == 1:
        sentences.append(f"Warning {before[0]}.")
    elif before:
        sentences.append(f"Warnings: {'; '.join(before)}.")
    if after:
        sentences.append(f"After the deadline, while not met: {'; '.join(after)}.")
    return sentences


def commitment_sentence(commitment: Commitment) -> str:
    """``Marketing delivers at least 150 MQLs a month, of which at least 60% are accepted
    (reach SAL).``"""
    text = (
        f"{commitment.party.capitalize()} delivers at least {commitment.at_least} "
        f"{_state(commitment.state)}s {per(commitment.per)}"
    )
    if commitment.accepted_share is not None and commitment.accepted_state:
        text += (
            f", of which at least {float(commitment.accepted_share):.0%} are accepted "
            f"(reach {_state(commitment.accepted_state)})"
        )
    return text + "."


def team_sentence(team: Team) -> str:
    """``Sales: bob, carol, manager sam, leads assigned ...``"""
    return (
        f"{team.name.capitalize()}: {', '.join(team.members) or 'no members yet'}"
        + (f", manager {team.manager}" if team.manager else "")
        + f", leads assigned {_policy(team.policy)}"
        + (
            ", and a lead that comes back goes to the member who had it, if still in the team "
            "and available"
            if team.sticky
            else ""
        )
    )


def people_sentences(agreement: Agreement) -> list[str]:
    """``People: aino is away 2026-12-21 to 2027-01-01 and takes at most 40 open leads.``, and
    what assignment does about it."""
    described = [person for person in agreement.people if person.away or person.capacity]
    if not described:
        return []
    sentences = [f"People: {'; '.join(person.describe() for person in described)}."]
    sentences.append(
        "New leads skip whoever is away or at their capacity (an explicit assignment does "
        "not); with no one available, a lead stays with the team as a whole."
    )
    if any(person.away for person in described):
        sentences.append(
            "When an owner's time away starts, their leads with running clocks go to someone "
            "else in the team."
            if agreement.reassign_when_away
            else "Leads an owner already has stay with them while they are away."
        )
    return sentences


def calendar_sentence(agreement: Agreement, name: str) -> str:
    """``helsinki, for team sales-fi and leads with country in ('FI', 'SE'): Mon–Fri ...``"""
    whose: list[str] = []
    for owners in agreement.calendar_owners:
        if owners.calendar != name:
            continue
        if owners.teams:
            whose.append(
                f"team{'s' if len(owners.teams) > 1 else ''} {_either(owners.teams, 'and')}"
            )
        if owners.people:
            whose.append(_either(owners.people, "and"))
        if owners.region is not None:
            whose.append(f"leads with {owners.region}")
    if len(agreement.calendars) > 1 and name == agreement.default_calendar:
        whose.append("everyone else" if whose else "everyone without a calendar of their own")
    said = f", for {_either(whose, 'and')}" if whose else ""
    return f"{name}{said}: {agreement.calendars[name].describe()}"


def tracking_sentence(agreement: Agreement) -> str:
    """``Results are tracked per month in Europe/Helsinki time.``"""
    return (
        f"Results are tracked {per(agreement.tracking_period).replace('a ', 'per ', 1)}"
        f" in {agreement.timezone} time."
    )


def obligation_sentence(agreement: Agreement, spec: ObligationSpec) -> str:
    """``Sales logs a call ... within 4 business hours (Mon–Fri 09:00–17:00, Europe/Helsinki)
    of a lead entering MQL. Warning 1 business hour before. On breach: escalate to ...``"""
    party = spec.party.capitalize()
    text = (
        f"{party} {_promise(spec)} within {spec.within}{_calendar_note(agreement, spec)} "
        f"of {_when_start(spec.starts)}{_tiers_note(spec)}"
    )
    if spec.repeat:
        text += ", and again within the same time after each time it is met, while the lead stays"
    text += "."
    if spec.attempts is not None and spec.attempts.on_exhausted:
        consequences = _either(
            [_action(agreement, a, spec.party) for a in spec.attempts.on_exhausted], "and"
        )
        text += f" After {spec.attempts.count} attempts without reaching the lead, {consequences}."
    for sentence in ladder_sentences(agreement, spec):
        text += f" {sentence}"
    if spec.on_breach:
        actions = [_action(agreement, a, spec.party) for a in spec.on_breach]
        text += f" On breach: {_either(actions, 'and')}."
    if spec.on_met:
        actions = [_action(agreement, a, spec.party) for a in spec.on_met]
        text += f" When met: {_either(actions, 'and')}."
    if spec.pause is not None:
        reasons = (
            [f"in {_either([_state(s) for s in spec.pause.states])}"] if spec.pause.states else []
        )
        if spec.pause.condition is not None:
            reasons.append(f"while {spec.pause.condition}")
        text += f" The clock stands still {_either(reasons)}."
    return text


def _condition_words(condition: Condition, agreement: Agreement) -> str:
    if condition.source in agreement.terms:
        return f"meets the {_state(condition.source)} definition"
    return f"has {condition}"


def rule_sentence(agreement: Agreement, rule: Rule) -> str:
    """``A lead in MQL, SAL or SQL that has need_months > 6 goes to nurture (reason ...)``."""
    where = f" in {_either([_state(s) for s in rule.states])}" if rule.states else ""
    if rule.states == (agreement.lifecycle.initial,):
        where = ""
        subject = "A new lead"
    else:
        subject = "A lead"
    said = [_action(agreement, action, "") for action in rule.then]
    condition = _condition_words(rule.when, agreement)
    if all(text.startswith("the lead ") for text in said):
        actions = _either([text.removeprefix("the lead ") for text in said], "and")
        return f"{subject}{where} that {condition} {actions}."
    return f"When {subject.lower()}{where} {condition}: {_either(said, 'and')}."


def _policy(team_policy: object) -> str:
    if isinstance(team_policy, StrictRoundRobin):
        return "in strict rotation"
    if isinstance(team_policy, LeastLoaded):
        if team_policy.working_hours:
            return "to the least loaded of those at work (else of those whose hours begin soonest)"
        return "to the least loaded"
    if isinstance(team_policy, FixedOwner):
        return f"always to {team_policy.person}"
    if isinstance(team_policy, RuleRouting):
        return "by routing rules"
    if isinstance(team_policy, RoundRobin):
        return "in turn"
    return "by a custom policy"


# ------------------------------------------------------------------------------------------
# The page.


def summary_sections(agreement: Agreement) -> list[Section]:
    """The one-pager as sections, before rendering."""
    sections: list[Section] = []
    funnel = agreement.funnel()
    if agreement.goal is not None:
        goal_lines: list[str] = []
        if agreement.goal.description:
            goal_lines.append(agreement.goal.description)
        if funnel is not None:
            # The first sentence restates the goal; keep it only when nobody described it.
            sentences = funnel.sentences()
            goal_lines.append(" ".join(sentences[1:] if goal_lines else sentences))
        sections.append(Section("The goal", tuple(goal_lines)))
    sections.append(
        Section(
            "Definitions",
            table=(
                ("Term", "Meaning", "Rule"),
                *(
                    (_state(term.name), term.description, term.condition.source)
                    for term in agreement.terms
                ),
            ),
        )
    )
    commitments = [commitment_sentence(commitment) for commitment in agreement.commitments]
    parties = list(dict.fromkeys(spec.party for spec in agreement.obligations))
    for party in parties:
        for spec in agreement.obligations:
            if spec.party == party:
                commitments.append(f"{spec.name}: {obligation_sentence(agreement, spec)}")
    sections.append(Section("Commitments", bullets=tuple(commitments)))
    owners = [
        (_state(state.name), state.owner, state.description) for state in agreement.lifecycle.states
    ]
    teams = "; ".join(team_sentence(team) for team in agreement.teams)
    sections.append(
        Section(
            "Who owns a lead",
            (teams, *people_sentences(agreement)),
            table=(("State", "Owner", "Meaning"), *owners),
        )
    )
    moves = [rule_sentence(agreement, rule) for rule in agreement.rules.ordered]
    backward = [t.trigger for t in agreement.lifecycle.transitions if t.requires_reason]
    if backward:
        moves.append(
            f"Moves that need a reason: {_either(list(dict.fromkeys(backward)), 'and')}; the "
            "reason is recorded with the lead."
        )
    sections.append(Section("How leads move", bullets=tuple(moves)))
    hours = [calendar_sentence(agreement, name) for name in agreement.calendars]
    tracking = tracking_sentence(agreement)
    sections.append(
        Section(
            "Working hours, tracking and review",
            (tracking, *((agreement.review,) if agreement.review else ())),
            bullets=tuple(hours),
        )
    )
    return [
        section
        for section in sections
        if section.paragraphs or section.bullets or len(section.table) > 1
    ]


def _subtitle(agreement: Agreement) -> str:
    parts = [f"Version {agreement.version}"]
    if agreement.effective is not None:
        parts.append(f"effective {agreement.effective.isoformat()}")
    return ", ".join(parts) + "."


def render_summary(agreement: Agreement, format: Format = "text") -> str:
    """The one-page summary as plain text, Markdown (``md``) or self-contained HTML."""
    renderers = {"text": _text, "md": _markdown, "html": _html}
    if format not in renderers:
        raise AgreementError(
            Problem("format", format, "is not a summary format", "use text, md or html")
        )
    return renderers[format](agreement, summary_sections(agreement))


def _text(agreement: Agreement, sections: list[Section]) -> str:
    width = 96
    lines = [agreement.name, "=" * len(agreement.name), _subtitle(agreement), ""]
    for section in sections:
        lines += [section.title, "-" * len(section.title)]
        for paragraph in section.paragraphs:
            lines += [*textwrap.wrap(paragraph, width, break_on_hyphens=False), ""]
        for bullet in section.bullets:
            lines += textwrap.wrap(
                bullet, width, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
            )
        if section.bullets:
            lines.append("")
        if section.table:
            lines += [*_text_table(section.table, width), ""]
    return "\n".join(lines).rstrip() + "\n"


def _text_table(table: tuple[tuple[str, ...], ...], width: int) -> list[str]:
    """Columns fitted into ``width``: the widest give way first, their cells wrap."""
    columns = len(table[0])
    widths = [max(len(row[i]) for row in table) for i in range(columns)]
    while sum(widths) + 2 * (columns - 1) > width and max(widths) > 12:
        widths[widths.index(max(widths))] -= 1
    lines: list[str] = []
    for number, row in enumerate(table):
        wrapped = [
            textwrap.wrap(cell, widths[i], break_on_hyphens=False) or [""]
            for i, cell in enumerate(row)
        ]
        for depth in range(max(len(cell) for cell in wrapped)):
            parts = [
                (cell[depth] if depth < len(cell) else "").ljust(widths[i])
                for i, cell in enumerate(wrapped)
            ]
            lines.append("  ".join(parts).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def _markdown(agreement: Agreement, sections: list[Section]) -> str:
    md = markdown_text  # every piece of text: it comes from the agreement's authors
    lines = [f"# {md(agreement.name)}", "", md(_subtitle(agreement)), ""]
    for section in sections:
        lines += [f"## {md(section.title)}", ""]
        for paragraph in section.paragraphs:
            lines += [md(paragraph), ""]
        for bullet in section.bullets:
            lines.append(f"- {md(bullet)}")
        if section.bullets:
            lines.append("")
        if section.table:
            header, *rows = section.table
            lines.append("| " + " | ".join(md(c) for c in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_CSS: Final = """
@page { size: A4; margin: 12mm 13mm; }
* { box-sizing: border-box; }
body { font: 8.6pt/1.32 "Helvetica Neue", Arial, sans-serif; color: #1c1c1c; margin: 0; }
h1 { font-size: 15pt; margin: 0 0 1mm; }
h2 { font-size: 10pt; margin: 3.2mm 0 1mm; padding-bottom: 0.6mm; border-bottom: 0.5pt solid #999; }
p { margin: 0 0 1.2mm; }
.subtitle { color: #555; margin-bottom: 2mm; }
ul { margin: 0 0 1mm; padding-left: 4.5mm; }
li { margin: 0 0 0.9mm; }
table { border-collapse: collapse; width: 100%; margin: 0.6mm 0 1mm; }
th, td { text-align: left; vertical-align: top; padding: 0.5mm 2mm 0.5mm 0;
         border-bottom: 0.3pt solid #ddd; }
th { font-weight: 600; }
code { font: 8pt "SFMono-Regular", Consolas, monospace; }
.sign { display: flex; gap: 10mm; margin-top: 5mm; }
.sign div { flex: 1; border-top: 0.5pt solid #333; padding-top: 1mm; color: #555; }
@media screen { body { max-width: 190mm; margin: 8mm auto; } }
"""


def _html(agreement: Agreement, sections: list[Section]) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{escape(agreement.name)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{escape(agreement.name)}</h1>",
        f'<p class="subtitle">{escape(_subtitle(agreement))}</p>',
    ]
    for section in sections:
        parts.append(f"<h2>{escape(section.title)}</h2>")
        parts += [f"<p>{escape(paragraph)}</p>" for paragraph in section.paragraphs]
        if section.bullets:
            parts.append("<ul>")
            parts += [f"<li>{escape(bullet)}</li>" for bullet in section.bullets]
            parts.append("</ul>")
        if section.table:
            header, *rows = section.table
            parts.append("<table>")
            parts.append("<tr>" + "".join(f"<th>{escape(cell)}</th>" for cell in header) + "</tr>")
            for row in rows:
                cells = [escape(cell) for cell in row]
                if section.title == "Definitions":
                    cells[-1] = f"<code>{cells[-1]}</code>"
                parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
            parts.append("</table>")
    signers = [team.name.capitalize() for team in agreement.teams]
    parts.append(
        '<div class="sign">'
        + "".join(f"<div>{escape(name)}: signature and date</div>" for name in signers)
        + "</div>"
    )
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"
