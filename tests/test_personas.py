"""Buying-committee personas, seniority and department read from real-world job titles.

`tests/data/titles.csv` holds job titles as CRM exports and LinkedIn show them, each labelled by
hand (before the rules were written) with what a B2B marketer would say:

- seniority: c_level (chief/Cxx, president, founder, owner, managing director, partner), vp (SVP,
  EVP, VP, head of, general/country manager, general counsel), director, manager (manager,
  lead, supervisor, controller), individual (everyone else who works there, assistants too, and
  "managers" of accounts, customers, products and projects, who manage no team), none (students,
  interns, board members, investors, retirees, job seekers).
- persona: blocker (security, legal/compliance and procurement people at any level, the CISO
  and the General Counsel too), else economic_buyer (c_level and vp), champion (director and
  manager), technical_evaluator (individuals in engineering, IT, data), end_user (individuals
  in business functions), none (assistants, anyone without a seniority, and individuals
  in no business function: teachers, nurses, consultants...).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abmkit.config import open_workspace
from abmkit.config.settings import Persona, Settings, _default_personas
from abmkit.config.workspace import CONFIG_NAME, init_workspace
from abmkit.errors import ConfigError
from abmkit.resolve.personas import DEPARTMENTS, SENIORITIES, PersonaMatch, persona_of
from abmkit.resolve.roles import department_of, normalize_title, seniority_of

TITLES = Path(__file__).parent / "data" / "titles.csv"
PERSONAS = ("economic_buyer", "champion", "technical_evaluator", "end_user", "blocker", "none")


def _labelled() -> list[dict[str, str]]:
    with TITLES.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _persona(title: str) -> str:
    match = persona_of(title)
    return match.persona if match else "none"


def test_the_labelled_titles_are_many_and_use_the_vocabulary():
    rows = _labelled()
    assert len(rows) >= 220
    assert {r["persona"] for r in rows} == set(PERSONAS)
    assert {r["seniority"] for r in rows} == {*SENIORITIES, "none"}
    assert {r["department"] for r in rows} <= {*DEPARTMENTS, "none"}


@pytest.mark.parametrize(
    ("column", "read"),
    [
        ("persona", _persona),
        ("seniority", lambda title: seniority_of(title) or "none"),
        ("department", lambda title: department_of(title) or "none"),
    ],
)
def test_accuracy_on_the_labelled_titles(column, read):
    rows = _labelled()
    misses = [
        (r["title"], r[column], read(r["title"])) for r in rows if read(r["title"]) != r[column]
    ]
    accuracy = 1 - len(misses) / len(rows)
    print(f"{column} accuracy: {accuracy:.3f} on {len(rows)} titles")
    assert accuracy >= 0.90, (
        f"{column} accuracy {accuracy:.3f}; misses (title, label, read): {misses}"
    )


@pytest.mark.parametrize(
    ("title", "persona", "seniority", "department"),
    [
        ("Sr. Dir. IT Infrastructure", "champion", "director", "it"),
        ("VP, Finance & Ops", "economic_buyer", "vp", "finance"),
        ("Head of Procurement EMEA", "blocker", "vp", "procurement"),
        ("Vice President of Marketing", "economic_buyer", "vp", "marketing"),  # not "president"
        ("Assistant to the CFO", None, "individual", "administration"),  # not c_level
        ("Executive Assistant", None, "individual", "administration"),
        ("Exec. Asst.", None, "individual", "administration"),
        ("Marketing Assistant", None, "individual", "marketing"),
        ("Assistant Manager, Finance Operations", "champion", "manager", "finance"),  # a rank
        ("Intern, Marketing", None, None, "marketing"),
        ("Student", None, None, None),
        ("Board Member", None, None, None),
        ("Non-Executive Director", None, None, None),
        ("Retired CFO", None, None, "finance"),
        ("Sr Software Engineer II", "technical_evaluator", "individual", "engineering"),
        ("Dir of Data Eng", "champion", "director", "data"),
        ("Founder & CEO", "economic_buyer", "c_level", "executive"),
        ("SVP Global Sales", "economic_buyer", "vp", "sales"),
        ("IT Manager - Network Ops", "champion", "manager", "it"),
        ("Product Owner", "end_user", "individual", "product"),  # not an owner of the company
        ("HR Business Partner", "end_user", "individual", "hr"),  # not a partner of the firm
        ("Lead Generation Specialist", "end_user", "individual", "marketing"),  # not a lead
        ("Account Manager", "end_user", "individual", "sales"),  # manages accounts, not people
        ("General Counsel", "blocker", "vp", "legal"),
        ("Founder | Helping SaaS teams grow revenue", "economic_buyer", "c_level", "executive"),
    ],
)
def test_tricky_titles(title, persona, seniority, department):
    match = persona_of(title)
    assert (match.persona if match else None) == persona
    assert seniority_of(title) == seniority
    assert department_of(title) == department


def test_a_ciso_is_a_blocker_and_the_match_says_why():
    # Documented rule: security, legal and procurement are blockers at every level, so the
    # CISO too; a vendor selling to security teams configures its own personas.
    assert persona_of("CISO") == PersonaMatch(
        persona="blocker",
        seniority="c_level",
        department="security",
        rule="department security and seniority c_level",
    )
    assert persona_of("CFO") == PersonaMatch(
        "economic_buyer", "c_level", "finance", "seniority c_level"
    )


@pytest.mark.parametrize(
    ("title", "normalized"),
    [
        ("Sr. Dir., IT Infrastructure | EMEA", "senior director it infrastructure"),
        ("VP, Finance & Ops", "vp finance operations"),
        ("Vice-President / GM", "vp gm"),
        ("Director of FP&A", "director of fpa"),
        ("Sr. Mgr. Mktg Ops", "senior manager marketing operations"),
    ],
)
def test_normalize_title(title, normalized):
    assert normalize_title(title) == normalized


@pytest.mark.parametrize("title", [None, "", "   ", "n/a", "N/A", "-", "Unknown", "0"])
def test_blank_and_placeholder_titles_read_nothing(title):
    assert persona_of(title) is None
    assert seniority_of(title) is None
    assert department_of(title) is None


def _data_leader() -> Persona:
    return Persona(
        name="data_leader",
        title_keywords=["head of data", "chief data officer", r"(vp|director) (of )?data"],
        exclude_keywords=["assistant"],
    )


def test_a_custom_persona_goes_before_the_defaults():
    personas = [_data_leader(), *_default_personas()]
    match = persona_of("Head of Data & Analytics", personas)
    assert match == PersonaMatch("data_leader", "vp", "data", "title matches 'head of data'")
    assert persona_of("Dir of Data Eng", personas).persona == "data_leader"
    assert persona_of("Assistant to the Chief Data Officer", personas) is None  # excluded
    assert persona_of("CFO", personas).persona == "economic_buyer"  # the defaults still follow
    assert persona_of("Head of Data & Analytics").persona == "economic_buyer"  # defaults alone


def test_a_configured_persona_list_replaces_the_defaults(tmp_path):
    ws = init_workspace(tmp_path / "ws").path
    (ws / CONFIG_NAME).write_text(
        "personas:\n"
        "  - name: data_leader\n"
        "    title_keywords: ['head of data', 'chief data officer']\n"
        "  - name: security_buyer\n"
        "    departments: [security]\n"
        "    seniorities: [c_level, vp]\n",
        encoding="utf-8",
    )
    personas = open_workspace(ws, env={}).settings.personas
    assert [p.name for p in personas] == ["data_leader", "security_buyer"]
    assert persona_of("Head of Data", personas).persona == "data_leader"
    assert persona_of("CISO", personas).persona == "security_buyer"
    assert persona_of("Security Engineer", personas) is None
    assert persona_of("CFO", personas) is None  # the defaults are gone
    assert Settings().personas == _default_personas()


@pytest.mark.parametrize(
    ("persona", "message"),
    [
        (Persona(name="bad", title_keywords=["(unclosed"]), "not a valid regular expression"),
        (Persona(name="bad", seniorities=["senior"]), "seniorities"),
        (Persona(name="bad", departments=["Marketing"]), "departments"),
    ],
)
def test_a_persona_that_cannot_match_is_a_config_error(persona, message):
    with pytest.raises(ConfigError, match=message):
        persona_of("Marketing Manager", [persona])


@given(st.text())
def test_reading_any_text_never_raises(title):
    match = persona_of(title)
    assert match is None or match.persona in PERSONAS
    assert seniority_of(title) in (*SENIORITIES, None)
    assert department_of(title) in (*DEPARTMENTS, None)


@given(st.text(alphabet=st.sampled_from(" .,&/-|()IiTtSsRrVvPpCcEeOoAa"), max_size=30))
def test_punctuation_and_abbreviation_soup_never_raises(title):
    assert persona_of(title) is None or persona_of(title).persona in PERSONAS
