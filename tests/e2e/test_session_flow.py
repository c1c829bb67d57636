"""The nurse's consultation workflow on the kiosk's Konsultasjon screen, and the participant's
waiting room, in real Chromium against the real gateway on the simulated room.

idle → preparing (patient context, consent) → inviting (specialist and GP: link, QR, short
code, countdown) → the participants redeem their links and wait → the nurse admits one (live)
and turns the other away → end (with a confirm step) → summary with the report → idle.
Also: expired and used links, a reload and a gateway restart landing on the same step, English.
No media is connected here (no network namespace): the states are what is checked.
"""

from __future__ import annotations

import re
import time

import cv2
import numpy as np
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.e2e.conftest import Browsed, Kiosk, KioskFactory, participant
from tests.gatewayproc import REPO, GatewayProcess, start_gateway, wait_for

pytestmark = pytest.mark.e2e

SHOTS = REPO / "docs" / "screenshots"
CODE = re.compile(r"^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$")
STEP_MS = 10_000  # a poll is every 2 s; a loaded 2-core machine gets some slack
MIN_TOUCH_PX = 48


def redeem(b: Browsed, link: str) -> None:
    """Open the link (GET shows a button), press it: the waiting room."""
    b.page.goto(link)
    expect(b.page.get_by_test_id("join-button")).to_be_visible()
    b.page.get_by_test_id("join-button").click()
    b.page.wait_for_url("**/waiting/")


def shot(page: Page, name: str) -> None:
    page.wait_for_timeout(300)  # let the countdown and fonts settle
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def open_session_screen(kiosk: Kiosk) -> Page:
    page = kiosk.page
    page.get_by_test_id("nav-session").click()
    expect(page.locator("#screen-session")).to_be_visible()
    return page


def state_of(page: Page) -> Locator:
    return page.get_by_test_id("session")


def assert_fits_and_touchable(page: Page) -> None:
    """No horizontal scrolling; every visible control of the screen is >= 48 px each way."""
    overflow = page.evaluate(
        "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
    )
    assert overflow <= 0, f"horizontal scrolling by {overflow} px"
    small = page.evaluate(
        """(min) => [...document.querySelectorAll(
              '#screen-session button, #screen-session a, #screen-session input')]
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el.dataset.testid || el.id || el.textContent.trim(),
                          el.getBoundingClientRect()])
            .filter(([, r]) => r.width < min || r.height < min)
            .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)""",
        MIN_TOUCH_PX,
    )
    assert small == [], small


def decode_qr(img: Locator) -> str:
    """The text of the QR code as the browser draws it (OpenCV's detector)."""
    png = img.screenshot()
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert image is not None, "the QR image's screenshot does not decode as PNG"
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    return str(text)


def create_invite(page: Page, role: str, name: str) -> Locator:
    """Make an invitation on the kiosk; returns its card."""
    before = page.locator("#session-invites .session-invite").count()
    page.get_by_test_id(f"invite-role-{role}").click()
    page.get_by_test_id("invite-name").fill(name)
    page.get_by_test_id("invite-create").click()
    expect(page.locator("#session-invites .session-invite")).to_have_count(before + 1)
    card = page.locator(f'#session-invites .session-invite[data-role="{role}"]').last
    expect(card).to_contain_text(name)
    return card


def prepare(page: Page, *, pseudonym: str, year: str) -> None:
    """idle → preparing with the context and the consent → inviting."""
    page.get_by_test_id("session-start").click()
    expect(state_of(page)).to_have_attribute("data-state", "preparing")
    expect(page.get_by_test_id("session-invite-step")).to_be_disabled()  # no consent yet
    page.get_by_test_id("session-pseudonym").fill(pseudonym)
    page.get_by_test_id("session-birth-year").fill(year)
    page.get_by_test_id("session-consent").click()
    expect(page.get_by_test_id("session-consent")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("session-invite-step")).to_be_enabled()
    page.get_by_test_id("session-invite-step").click()
    expect(state_of(page)).to_have_attribute("data-state", "inviting")


def test_consultation_flow_nb(
    kiosk_factory: KioskFactory,
    gateway: GatewayProcess,
    browser: Browser,
    participants: list[Browsed],
) -> None:
    kiosk = kiosk_factory(1280, 800)
    page = open_session_screen(kiosk)
    expect(state_of(page)).to_have_attribute("data-state", "idle")
    expect(page.get_by_test_id("session-state")).to_have_text("Ingen konsultasjon")
    expect(page.get_by_test_id("session-start")).to_have_text("Start konsultasjon")
    shot(page, "session-idle-1280x800")

    # preparing: the context is optional, the consent is not
    page.get_by_test_id("session-start").click()
    expect(state_of(page)).to_have_attribute("data-state", "preparing")
    expect(page.locator("#screen-session")).to_contain_text("Alle feltene er valgfrie")
    expect(page.get_by_test_id("session-consent-note")).to_contain_text("må bekreftes")
    expect(page.get_by_test_id("session-invite-step")).to_be_disabled()
    page.get_by_test_id("session-birth-year").fill("1820")
    page.get_by_test_id("session-consent").click()
    expect(page.get_by_test_id("session-error")).to_contain_text("Fødselsår må være")
    page.get_by_test_id("session-birth-year").fill("1951")
    page.get_by_test_id("session-pseudonym").fill("AB")
    page.get_by_test_id("session-consent").click()
    expect(page.get_by_test_id("session-consent-note")).to_contain_text("Samtykke registrert kl.")
    expect(page.get_by_test_id("session-error")).to_be_hidden()
    with gateway.client() as nurse:
        patient = nurse.get("/api/v1/session").json()["session"]["patient"]
    assert patient["consent"] is True and patient["consent_s"] > time.time() - 60, patient
    assert patient["pseudonym"] == "AB" and patient["birth_year"] == 1951, patient
    page.get_by_test_id("session-invite-step").click()
    expect(state_of(page)).to_have_attribute("data-state", "inviting")
    expect(page.get_by_test_id("session-state")).to_have_text("Inviterer")

    # invitations: link, QR code (decodable), short code in big type, a live countdown
    spec_card = create_invite(page, "specialist", "Dr. Berg")
    gp_card = create_invite(page, "gp", "Dr. Lie")
    spec_link = spec_card.get_by_test_id("invite-link").inner_text()
    gp_link = gp_card.get_by_test_id("invite-link").inner_text()
    assert spec_link.startswith(f"{gateway.base_url}/join/") and spec_link != gp_link
    code = spec_card.get_by_test_id("invite-code")
    assert CODE.match(code.inner_text()), code.inner_text()
    assert float(code.evaluate("(el) => parseFloat(getComputedStyle(el).fontSize)")) >= 30
    qr = spec_card.get_by_test_id("invite-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("(img) => img.complete && img.naturalWidth") > 0
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 100 and box["height"] >= 100, box
    assert decode_qr(qr) == spec_link
    expiry = spec_card.get_by_test_id("invite-expiry")
    expect(expiry).to_contain_text("Utløper om 1")  # 15 min, counting down
    first = expiry.inner_text()
    page.wait_for_timeout(1500)
    assert expiry.inner_text() != first, "the countdown does not move"
    shot(page, "session-invite-1280x800")

    # the participants redeem their links and sit in the waiting room
    spec = participant(browser, participants)
    redeem(spec, spec_link)
    expect(spec.page.get_by_test_id("waiting-title")).to_have_text("Du er i venterommet")
    expect(spec.page.locator("main")).to_contain_text("Sykepleieren slipper deg inn")
    expect(spec.page.locator("main")).to_contain_text("You are in the waiting room")
    expect(spec.page.get_by_test_id("waiting-who")).to_have_text(
        "Invitert som / Invited as: Spesialist / Specialist · Dr. Berg"
    )
    spec.page.wait_for_timeout(300)
    spec.page.screenshot(path=str(SHOTS / "waiting-room-1280x800.png"))
    gp = participant(browser, participants)
    redeem(gp, gp_link)
    expect(gp.page.get_by_test_id("waiting-title")).to_have_text("Du er i venterommet")

    # the nurse sees them wait (the list updates by itself), with a badge on the tab
    waiting = page.get_by_test_id("session-waiting")
    expect(waiting.locator(".session-person")).to_have_count(2, timeout=STEP_MS)
    expect(page.get_by_test_id("nav-session")).to_have_attribute("data-waiting", "2")
    expect(page.locator("#session-invites .session-invite")).to_have_count(0)
    spec_row = waiting.locator('.session-person[data-role="specialist"]')
    expect(spec_row).to_contain_text("Spesialist · Dr. Berg")
    spec_row.get_by_test_id("person-admit").click()
    expect(state_of(page)).to_have_attribute("data-state", "live")  # admitting begins it
    expect(page.get_by_test_id("session-state")).to_have_text("Pågår")
    expect(page.get_by_test_id("session-in")).to_contain_text("Dr. Berg")
    spec.page.wait_for_url("**/specialist/", timeout=STEP_MS)  # moved on by itself

    gp_row = waiting.locator('.session-person[data-role="gp"]')
    gp_row.get_by_test_id("person-reject").click()
    expect(gp.page.get_by_test_id("waiting-title")).to_have_text(
        "Du er ikke lenger med i konsultasjonen", timeout=STEP_MS
    )
    expect(gp.page.locator("body")).to_have_attribute("data-standing", "removed")
    expect(waiting).to_contain_text("Ingen venter.")
    expect(page.get_by_test_id("nav-session")).to_have_attribute("data-waiting", "0")
    # the used link: its page says so at once, and pressing nothing uses anything
    again = participant(browser, participants, expected=("status of 409",))
    again.page.goto(gp_link)
    expect(again.page.locator("h1")).to_have_text("Lenken er allerede brukt")
    expect(page.locator("#session-since")).to_contain_text("Pågått i")
    # the simulated oximeter's values now belong to the session
    wait_for(lambda: _measurements(gateway) > 0, 20)
    shot(page, "session-live-1280x800")

    # end, with a confirm step that can be declined
    page.get_by_test_id("session-end").click()
    expect(page.get_by_test_id("session-confirm")).to_be_visible()
    page.get_by_test_id("session-end-no").click()
    expect(page.get_by_test_id("session-confirm")).to_be_hidden()
    expect(state_of(page)).to_have_attribute("data-state", "live")
    page.get_by_test_id("session-end").click()
    page.get_by_test_id("session-end-yes").click()
    expect(state_of(page)).to_have_attribute("data-state", "ended")
    expect(page.get_by_test_id("session-state")).to_have_text("Avsluttet")
    expect(page.get_by_test_id("sum-participants")).to_have_text("Spesialist (Dr. Berg)")
    count = int(page.get_by_test_id("sum-measurements").inner_text())
    assert count > 0
    expect(page.get_by_test_id("sum-duration")).to_have_text(re.compile(r"^\d+( min \d\d)? s$"))
    report = page.frame_locator("#session-report")
    expect(report.locator("body")).to_contain_text("Dr. Berg", timeout=STEP_MS)
    expect(report.locator("body")).to_contain_text("pseudonym: AB")
    expect(report.locator("body")).to_contain_text("Samtykke til videokonsultasjon")
    pdf = page.get_by_test_id("session-pdf")
    assert (pdf.get_attribute("href") or "").endswith("/report?format=pdf")
    shot(page, "session-summary-1280x800")
    # the specialist's ended session: the waiting room says it ended
    spec.page.goto(f"{gateway.base_url}/waiting/")
    expect(spec.page.get_by_test_id("waiting-title")).to_have_text("Konsultasjonen er avsluttet")

    # a reload keeps the summary; "Ny konsultasjon" goes back to idle
    page.reload()
    open_session_screen(kiosk)
    expect(state_of(page)).to_have_attribute("data-state", "ended")
    expect(page.get_by_test_id("sum-measurements")).to_have_text(str(count))
    page.get_by_test_id("session-new").click()
    expect(state_of(page)).to_have_attribute("data-state", "idle")
    page.reload()
    open_session_screen(kiosk)
    expect(state_of(page)).to_have_attribute("data-state", "idle")


def _measurements(gw: GatewayProcess) -> int:
    with gw.client() as nurse:
        session = nurse.get("/api/v1/session").json()["session"]
        if session is None:
            return 0
        summary = nurse.get(f"/api/v1/sessions/{session['id']}/summary").json()
    count: int = summary["measurements"]
    return count


def test_english_small_screen_and_expired_link(
    kiosk_factory: KioskFactory,
    gateway: GatewayProcess,
    browser: Browser,
    participants: list[Browsed],
) -> None:
    kiosk = kiosk_factory(800, 480)
    page = open_session_screen(kiosk)
    expect(state_of(page)).to_have_attribute("data-state", "idle")
    assert_fits_and_touchable(page)
    shot(page, "session-idle-800x480")
    page.get_by_test_id("lang-toggle").click()
    expect(page.get_by_test_id("session-start")).to_have_text("Start consultation")
    expect(page.get_by_test_id("session-state")).to_have_text("No consultation")

    prepare(page, pseudonym="CD", year="1960")
    expect(page.get_by_test_id("session-state")).to_have_text("Inviting")
    card = create_invite(page, "gp", "Dr. Lie")
    expect(card.get_by_test_id("invite-expiry")).to_contain_text("Expires in")
    expect(page.get_by_test_id("invite-create")).to_have_text("Create invitation")
    assert_fits_and_touchable(page)
    card.scroll_into_view_if_needed()
    shot(page, "session-invite-800x480")

    # an invitation that expires: the kiosk says so, and so does its link's page
    with gateway.client() as nurse:
        short = nurse.post("/api/v1/session/invites", json={"role": "specialist", "ttl_s": 2})
        assert short.status_code == 201, short.text
    expired_card = page.get_by_test_id(f"invite-{short.json()['participant_id']}")
    expect(expired_card).to_contain_text("Expired: create a new invitation.", timeout=STEP_MS)
    expect(expired_card).to_have_attribute("data-expired", "true")
    late = participant(browser, participants, expected=("status of 410",))
    late.page.goto(short.json()["link"])
    expect(late.page.locator("h1")).to_have_text("Lenken er utløpt")
    expect(late.page.locator("main")).to_contain_text("This link has expired")
    expired_card.get_by_test_id("invite-withdraw").click()
    expect(expired_card).to_have_count(0)

    # removed right after being let in: the participant page's first requests for the
    # session's records (trends, stills, notes) may reach the gateway after the removal and
    # are refused (401): that refusal is what is under test, not a page fault
    gp = participant(browser, participants, expected=("status of 401",))
    redeem(gp, card.get_by_test_id("invite-link").inner_text())
    row = page.locator('#session-waiting .session-person[data-role="gp"]')
    expect(row).to_contain_text("GP · Dr. Lie", timeout=STEP_MS)
    expect(row.get_by_test_id("person-admit")).to_have_text("Let in")
    row.get_by_test_id("person-admit").click()
    expect(page.get_by_test_id("session-state")).to_have_text("In progress")
    gp.page.wait_for_url("**/specialist/", timeout=STEP_MS)
    inside = page.locator('#session-in .session-person[data-role="gp"]')
    expect(inside.get_by_test_id("person-remove")).to_have_text("Remove")
    assert_fits_and_touchable(page)
    shot(page, "session-live-800x480")
    # removed while in: the participant page says so, then the removed page takes over
    inside.get_by_test_id("person-remove").click()
    expect(page.locator("#session-in")).to_contain_text("No one has joined yet.")
    expect(gp.page.get_by_test_id("waiting-title")).to_have_text(
        "Du er ikke lenger med i konsultasjonen", timeout=STEP_MS
    )

    page.get_by_test_id("session-end").click()
    expect(page.get_by_test_id("session-confirm")).to_contain_text("End the consultation?")
    page.get_by_test_id("session-end-yes").click()
    expect(page.get_by_test_id("session-state")).to_have_text("Ended")
    expect(page.get_by_test_id("sum-participants")).to_have_text("GP (Dr. Lie)")
    expect(page.locator("#screen-session")).to_contain_text("Measurements")
    expect(page.frame_locator("#session-report").locator("body")).to_contain_text("Dr. Lie")
    assert_fits_and_touchable(page)
    shot(page, "session-summary-800x480")
    page.get_by_test_id("session-new").click()
    expect(page.get_by_test_id("session-start")).to_have_text("Start consultation")
    page.get_by_test_id("lang-toggle").click()  # leave the shared gateway's kiosk in bokmål
    expect(page.get_by_test_id("session-start")).to_have_text("Start konsultasjon")


def _kiosk_page(
    browser: Browser, gw: GatewayProcess, errors: list[str]
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.on(
        "console",
        lambda m: errors.append(f"console error: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    response = page.goto(gw.login_url)
    assert response is not None and response.ok
    page.get_by_test_id("nav-session").click()
    return context, page


def test_restart_resumes_the_same_step(browser: Browser, participants: list[Browsed]) -> None:
    """A gateway restart: the kiosk comes back inviting, the waiting participant still waits."""
    gw = start_gateway()
    errors: list[str] = []
    root = gw.root
    try:
        context, page = _kiosk_page(browser, gw, errors)
        prepare(page, pseudonym="EF", year="1970")
        link = create_invite(page, "specialist", "Dr. Holm").get_by_test_id("invite-link")
        waiting = participant(browser, participants)
        redeem(waiting, link.inner_text())
        expect(page.locator("#session-waiting .session-person")).to_have_count(1, timeout=STEP_MS)
        waiting.page.goto("about:blank")  # its poll would meet the stopped gateway
        context.close()  # likewise the kiosk's live socket
        gw.stop_cleanly()

        gw = start_gateway(root)  # same state directory, a new port
        context, page = _kiosk_page(browser, gw, errors)
        expect(state_of(page)).to_have_attribute("data-state", "inviting")
        row = page.locator('#session-waiting .session-person[data-role="specialist"]')
        expect(row).to_contain_text("Dr. Holm", timeout=STEP_MS)
        # the participant's cookie still holds: the same waiting room on the new port
        waiting.page.goto(f"{gw.base_url}/waiting/")
        expect(waiting.page.get_by_test_id("waiting-title")).to_have_text("Du er i venterommet")
        row.get_by_test_id("person-admit").click()
        expect(state_of(page)).to_have_attribute("data-state", "live")
        waiting.page.wait_for_url("**/specialist/", timeout=STEP_MS)
        # the DOM is enough: the state is awaited below (a loaded CI machine once needed more
        # than 30 s for every subresource of the reloaded page)
        page.reload(wait_until="domcontentloaded")
        page.get_by_test_id("nav-session").click()
        expect(state_of(page)).to_have_attribute("data-state", "live")
        expect(page.get_by_test_id("session-in")).to_contain_text("Dr. Holm")
        waiting.page.goto("about:blank")
        context.close()
        gw.stop_cleanly()
    finally:
        if gw.process.poll() is None:
            gw.stop()
        gw.remove()
    assert not errors, "kiosk console errors:\n" + "\n".join(errors)
