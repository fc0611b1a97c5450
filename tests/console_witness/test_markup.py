"""Accessible markup: headings in order, a label for every field, grouped choices in
fieldsets with legends, named buttons, and the CSRF token in every form."""

from __future__ import annotations

from html.parser import HTMLParser

from server.domain.models import AgencyKind, Role
from tests.console_witness.conftest import SignIn
from tests.console_witness.helpers import back_on_page, officer_on_page
from tests.support.world import World


class Outline(HTMLParser):
    """Headings, form fields, labels, fieldsets and buttons of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[int] = []
        self.fields: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.forms: list[dict[str, object]] = []
        self.fieldsets = 0
        self.legends = 0
        self.open_fieldsets: list[dict[str, bool]] = []
        self.buttons: list[str] = []
        self._button: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            self.headings.append(int(tag[1]))
        elif tag == "form":
            self.forms.append({"method": a.get("method"), "csrf": False})
        elif tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        elif tag in {"input", "select", "textarea"}:
            if tag == "input" and a.get("type") == "hidden":
                if a.get("name") == "csrf" and self.forms and a.get("value"):
                    self.forms[-1]["csrf"] = True
                return
            self.fields.append(a)
            if a.get("type") in {"checkbox", "radio"}:
                assert self.open_fieldsets, f"{a.get('id')} is not in a fieldset"
        elif tag == "fieldset":
            self.fieldsets += 1
            self.open_fieldsets.append({"legend": False})
        elif tag == "legend":
            self.legends += 1
        elif tag == "button":
            self._button = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "fieldset":
            self.open_fieldsets.pop()
        elif tag == "button" and self._button is not None:
            self.buttons.append(" ".join("".join(self._button).split()))
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button.append(data)


def outline(page: str) -> Outline:
    parsed = Outline()
    parsed.feed(page)
    return parsed


async def test_the_witness_page_is_accessible_markup(world: World, console: SignIn) -> None:
    talk, officer, path = await officer_on_page(world, console)
    back_on_page(
        await officer.post(
            path + "/appointments",
            {
                "kind": "hearing",
                "timezone": "Europe/Berlin",
                "starts_at": "2026-02-10T09:00",
                "ends_at": "2026-02-10T12:00",
            },
        ),
        talk.case_id,
        "scheduled",
    )
    parsed = outline((await officer.get(path)).text)

    assert parsed.headings[0] == 1
    assert parsed.headings.count(1) == 1
    for before, after in zip(parsed.headings, parsed.headings[1:], strict=False):
        assert after <= before + 1, parsed.headings
    for field in parsed.fields:
        assert field.get("id") in parsed.labels, field
    assert parsed.fieldsets == parsed.legends
    assert all(name for name in parsed.buttons)
    assert all(f["csrf"] for f in parsed.forms if f["method"] == "post")

    assert parsed.fieldsets >= 8
    assert len(parsed.fields) > 25
    assert any(b.startswith("Revoke ") for b in parsed.buttons)


async def test_the_reason_form_is_accessible_markup(world: World, console: SignIn) -> None:
    await world.add_agency("strict", kind=AgencyKind.POLICE, country="NL", requires_reason=True)
    await world.add_staff("careful", "strict", Role.OFFICER)
    client = await world.login("careful")
    case = await client.create_case("NL-1", world.agencies["support"])
    careful = await console("careful")
    for answer in (
        await careful.get(careful.case_page(case["case_id"])),
        await careful.post(careful.case_page(case["case_id"]) + "/consult", {"reason": ""}),
    ):
        parsed = outline(answer.text)
        assert parsed.headings == [1]
        assert [f.get("id") for f in parsed.fields] == ["language", "reason"]  # + the header's
        assert "reason" in parsed.labels
        assert parsed.buttons[-1] == "Open the witness page"
        assert all(f["csrf"] for f in parsed.forms if f["method"] == "post")
