"""The console end to end in headless chromium: an officer works a manual-review (300) and an inspection
(500) case, an enterprise reads its receipts and rejections, and the overview's Plotly charts draw."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from tests.e2e.conftest import Live, shot

from cbec.service.cast import ADMIN, OFFICER

AGENT = "4403960402"


def _login(page: Page, live: Live, key: str, *, screenshot: str | None = None) -> None:
    page.goto(f"{live.base}/console/login")
    page.fill("#api_key", key)
    if screenshot:
        shot(page, screenshot)
    page.click("#login")
    page.wait_for_load_state()


def test_officer_works_a_review_and_an_inspection_case(page: Page, live: Live) -> None:
    _login(page, live, live.world.cast.keys[OFFICER], screenshot="login")
    expect(page).to_have_url(re.compile(r"/console/queue/review$"))
    expect(page.locator("#who")).to_contain_text("demo officer")
    shot(page, "officer-review-queue")

    # a manual-review case: why, the masked history, unmasking with a purpose, the result
    first = page.locator("a.case-link").first
    invt_no = first.inner_text()
    first.click()
    expect(page.locator("#current-status")).to_contain_text("300")
    expect(page.locator("#why")).to_contain_text("300")
    expect(page.locator("#masked-note")).to_be_visible()
    shot(page, "officer-case-300")
    page.fill("#purpose", "人工审核 300")
    page.click("#unmask")
    expect(page.locator("#unmasked-note")).to_be_visible()
    shot(page, "officer-case-300-unmasked")
    page.check("input[name=result][value=release]")
    page.click("#submit-result")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#current-status")).to_contain_text("800")
    expect(page.locator("#officer-results")).to_contain_text("review:release")
    shot(page, "officer-case-300-released")
    page.goto(f"{live.base}/console/queue/review")
    expect(page.locator("#queue, #empty")).not_to_contain_text(invt_no)

    # an inspection case: detained with reasons in both languages
    page.click("text=查验")
    expect(page).to_have_url(re.compile(r"/console/queue/inspection$"))
    shot(page, "officer-inspection-queue")
    page.locator("a.case-link").first.click()
    expect(page.locator("#current-status")).to_contain_text("500")
    shot(page, "officer-case-500")
    page.check("input[name=result][value=detain-smuggling]")
    page.fill("#reason_zh", "疑似夹带")
    page.fill("#reason_en", "suspected concealment")
    page.click("#submit-result")
    expect(page.locator("#current-status")).to_contain_text("502")
    shot(page, "officer-case-500-detained")
    page.check("input[name=result][value=pass]")
    page.click("#submit-result")
    expect(page.locator("#current-status")).to_contain_text("800")
    shot(page, "officer-case-500-passed")

    # document search by list number
    page.goto(f"{live.base}/console/search")
    page.fill("#q", invt_no)
    page.click("#search")
    expect(page.locator("#history")).to_contain_text("CEB621Message")
    shot(page, "officer-search")


def test_enterprise_sees_receipts_and_rejections(page: Page, live: Live) -> None:
    _login(page, live, live.world.cast.keys[AGENT])
    expect(page).to_have_url(re.compile(r"/console/receipts$"))
    expect(page.locator("#receipts")).to_contain_text("CEB622Message")
    shot(page, "enterprise-receipts")
    page.locator("#receipts a").first.click()
    expect(page.locator("#entries")).to_be_visible()
    shot(page, "enterprise-receipt")
    page.goto(f"{live.base}/console/rejections")
    expect(page.locator("#rejection-groups")).to_contain_text("-6210")
    shot(page, "enterprise-rejections")
    page.goto(f"{live.base}/console/tax")
    expect(page.locator("#tax-bills")).to_be_visible()
    shot(page, "enterprise-tax")
    page.goto(f"{live.base}/console/documents")
    expect(page.locator("#messages")).to_contain_text("CEB621Message")
    shot(page, "enterprise-documents")
    page.goto(f"{live.base}/console/queue/review")
    expect(page.locator("#error-title")).to_contain_text("403")
    shot(page, "enterprise-forbidden-queue")
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/console/login$"))


def test_quota_lookup_in_the_browser(page: Page, live: Live) -> None:
    _login(page, live, live.world.cast.keys["3301960001"])  # a platform
    page.goto(f"{live.base}/console/quota?lang=en")
    page.fill("#buyer_id", "110101199003074477")
    page.click("#lookup")
    expect(page.locator("#quota-result")).to_contain_text("26000.00")
    shot(page, "enterprise-quota")


def test_overview_charts_render(page: Page, live: Live) -> None:
    _login(page, live, live.world.cast.keys[ADMIN])
    expect(page).to_have_url(re.compile(r"/console/overview$"))
    for chart in ("chart-volumes", "chart-lists", "chart-rejections", "chart-latency"):
        expect(page.locator(f"#{chart} svg.main-svg").first).to_be_attached()
        assert page.locator(f"#{chart} svg .plot, #{chart} svg .pielayer").count() > 0, chart
    shot(page, "overview-admin")
    page.click("#lang-en")
    expect(page.locator("h1")).to_contain_text("Overview")
    expect(page.locator("#chart-volumes svg.main-svg").first).to_be_attached()
    shot(page, "overview-admin-en")
    page.click("#logout")
    _login(page, live, live.world.cast.keys[OFFICER])
    page.goto(f"{live.base}/console/overview")
    expect(page.locator("#decided")).to_be_visible()
    shot(page, "overview-officer")
