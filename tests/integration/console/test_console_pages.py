"""The console through FastAPI's TestClient on a populated store: logging in, every page, rights, results.

The store comes from ``world.py``: a generated day with planted faults sent through the real API by the
filed cast and cleared with 25 % manual review and 25 % inspection.
"""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from tests.integration.console.conftest import login
from tests.integration.console.world import World

from cbec.engine.buyer_key import buyer_key, secret_for
from cbec.messages.decode import decode
from cbec.service.history import Handles, parcel_history
from cbec.store import aftercare as aftercare_repo
from cbec.store import inbox as inbox_repo
from cbec.store import pii_audit
from cbec.store import quota as quota_repo
from cbec.store.schema import decision, document, receipt

AGENT = "4403960402"  # a declaring agent of the cast: receives CEB622 and CEB816


def _buyer_id(world: World, invt_no: str) -> str:
    """The buyer's real ID number on a list (read from the inbox, as the store keeps it)."""
    with world.engine.connect() as conn:
        found = parcel_history(conn, Handles(invt_no=invt_no))
    return str(next(d for d in found.documents if d["kind"] == "list")["head"]["buyerIdNumber"])


def _status(world: World, invt_no: str) -> int:
    with world.engine.connect() as conn:
        key = aftercare_repo.list_keys_by_invt_nos(conn, [invt_no])[invt_no]
        return int(
            conn.execute(
                select(document.c.status).where(document.c.kind == "list", document.c.business_key == key)
            ).scalar_one()
        )


def _list_receipt_statuses(world: World, invt_no: str) -> list[str]:
    with world.engine.connect() as conn:
        xmls = conn.execute(
            select(receipt.c.xml).where(receipt.c.message_type == "CEB622Message").order_by(receipt.c.id)
        ).scalars()
        out = []
        for xml in xmls:
            for doc in decode(xml, check_codes=False).documents:
                if doc.head.get("invtNo") == invt_no:
                    out.append(str(doc.head["returnStatus"]))
    return out


# --- logging in ---------------------------------------------------------------------------------------------


def test_pages_need_a_login(client: TestClient) -> None:
    r = client.get("/console/queue/review", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fqueue%2Freview"
    page = client.get("/console/login")
    assert page.status_code == 200 and 'name="api_key"' in page.text


def test_login_sets_a_strict_httponly_cookie_and_logout_clears_it(client: TestClient, world: World) -> None:
    r = client.post(
        "/console/login",
        data={"api_key": world.officer_key, "next": "/console/queue/inspection"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/queue/inspection"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    assert client.get("/console/queue/inspection").status_code == 200
    out = client.post("/console/logout", follow_redirects=False)
    assert out.status_code == 303 and 'cbec_console_key=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/console/queue/inspection", follow_redirects=False).status_code == 303


def test_a_wrong_key_is_refused_with_the_reason(client: TestClient) -> None:
    r = client.post("/console/login", data={"api_key": "cbec_0123456789_nope", "next": "/console/"})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers
    assert 'id="problem"' in r.text


def test_login_does_not_redirect_outside_the_console(client: TestClient, world: World) -> None:
    r = client.post(
        "/console/login",
        data={"api_key": world.officer_key, "next": "https://evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/console/"


def test_a_form_from_another_site_is_refused(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(300)[-1]
    r = client.post(
        f"/console/case/{invt_no}", data={"result": "release"}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403
    assert _status(world, invt_no) == 300


def test_language_switch(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    zh = client.get("/console/queue/review")
    assert "人工审核" in zh.text and '<html lang="zh-CN">' in zh.text
    en = client.get("/console/queue/review?lang=en")
    assert "Manual review" in en.text and '<html lang="en">' in en.text
    assert "cbec_lang=en" in en.headers["set-cookie"]
    assert "Manual review" in client.get("/console/queue/review").text  # the cookie keeps it
    assert "人工审核" in client.get("/console/queue/review?lang=zh").text


# --- rights ------------------------------------------------------------------------------------------------


def test_an_enterprise_cannot_open_the_officer_queue(client: TestClient, world: World) -> None:
    login(client, world.cast.keys[AGENT])
    for url in ("/console/queue/review", "/console/queue/inspection", f"/console/case/{world.held(300)[0]}"):
        r = client.get(url)
        assert r.status_code == 403, url
        assert 'id="error-title"' in r.text and "关员" in r.text


def test_an_officer_has_no_enterprise_pages(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    for url in ("/console/receipts", "/console/rejections", "/console/tax", "/console/documents"):
        assert client.get(url).status_code == 403, url


def test_an_officer_cannot_open_a_list_of_another_district(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    other = world.held(300, district_prefix="22") + world.held(500, district_prefix="53")
    assert other, "the generated day has lists held in other districts"
    r = client.get(f"/console/case/{other[0]}")
    assert r.status_code == 403
    assert "2900" in r.text


# --- officers' queues and cases ----------------------------------------------------------------------------


def test_queues_list_the_district_held_lists(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    review = client.get("/console/queue/review").text
    shown = re.findall(r'class="case-link">(\w+)<', review)
    assert shown and all(n.startswith("29") for n in shown)
    assert set(world.held(300)) <= set(shown)
    inspection = client.get("/console/queue/inspection").text
    shown = re.findall(r'class="case-link">(\w+)<', inspection)
    assert set(world.held(500)) <= set(shown) and all(n.startswith("29") for n in shown)
    assert client.get("/console/queue/nonsense").status_code == 404


def test_a_case_says_why_and_masks_personal_data(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(300)[0]
    r = client.get(f"/console/case/{invt_no}?lang=en")
    assert r.status_code == 200
    why = r.text.split('id="why"')[1].split("</section>")[0]
    assert "300" in why and "manual review" in why
    assert 'value="release"' in r.text and 'value="refuse"' in r.text
    assert "CEB311Message" in r.text and "CEB621Message" in r.text  # order and list, through the district
    assert _buyer_id(world, invt_no) not in r.text
    assert "***" in r.text


def test_unmasking_needs_a_purpose_and_is_audited(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(300)[0]
    assert client.get(f"/console/case/{invt_no}?unmask=true").status_code == 403
    r = client.get(f"/console/case/{invt_no}?unmask=true&purpose=manual%20review%20300")
    assert r.status_code == 200 and 'id="unmasked-note"' in r.text
    assert _buyer_id(world, invt_no) in r.text
    with world.engine.connect() as conn:
        rows = pii_audit.accesses(conn, actor="DEMO-OFFICER")
    assert rows and rows[0].channel == "console" and rows[0].purpose == "manual review 300"
    assert "buyerIdNumber" in rows[0].fields


def test_review_release_records_the_result_and_a_ceb622(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(300)[0]
    r = client.post(f"/console/case/{invt_no}", data={"result": "release"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/case/{invt_no}?done=release"
    assert _status(world, invt_no) == 800
    assert _list_receipt_statuses(world, invt_no)[-2:] == ["399", "800"]
    with world.engine.connect() as conn:
        key = aftercare_repo.list_keys_by_invt_nos(conn, [invt_no])[invt_no]
        results = aftercare_repo.officer_results(conn, [key])[key]
        rules = conn.execute(select(decision.c.rule).where(decision.c.list_key == key)).scalars().all()
    assert [(x.kind, x.result, x.officer) for x in results] == [("review", "release", "DEMO-OFFICER")]
    assert "review:release" in rules
    page = client.get(r.headers["location"])
    assert 'id="done"' in page.text and 'id="not-held"' in page.text
    again = client.post(f"/console/case/{invt_no}", data={"result": "release"})
    assert again.status_code == 409 and 'id="problem"' in again.text
    assert invt_no not in client.get("/console/queue/review").text


def test_review_refusal_needs_reasons_in_both_languages(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(300)[0]
    r = client.post(f"/console/case/{invt_no}", data={"result": "refuse", "reason_zh": "品名不实"})
    assert r.status_code == 409 and "reason" in r.text
    assert _status(world, invt_no) == 300
    ok = client.post(
        f"/console/case/{invt_no}",
        data={"result": "refuse", "reason_zh": "申报品名不实", "reason_en": "goods misdeclared"},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert _status(world, invt_no) == 100
    assert _list_receipt_statuses(world, invt_no)[-1] == "100"


def test_inspection_detain_then_return_abroad(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(500)[0]
    page = client.get(f"/console/case/{invt_no}")
    assert 'value="pass"' in page.text and 'value="detain-smuggling"' in page.text
    r = client.post(
        f"/console/case/{invt_no}",
        data={"result": "detain-smuggling", "reason_zh": "疑似夹带", "reason_en": "suspected concealment"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and _status(world, invt_no) == 502
    assert invt_no in client.get("/console/queue/inspection").text  # detained lists still await a result
    r = client.post(
        f"/console/case/{invt_no}",
        data={"result": "return", "reason_zh": "退运出境", "reason_en": "returned abroad"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and _status(world, invt_no) == 700
    assert _list_receipt_statuses(world, invt_no)[-2:] == ["502", "700"]


def test_inspection_pass_releases(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(500)[0]
    r = client.post(f"/console/case/{invt_no}", data={"result": "pass"}, follow_redirects=False)
    assert r.status_code == 303 and _status(world, invt_no) == 800
    assert _list_receipt_statuses(world, invt_no)[-1] == "800"


def test_officer_search_finds_a_list_by_number(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    invt_no = world.held(300)[-1]
    r = client.get(f"/console/search?by=invtNo&q={invt_no}")
    assert r.status_code == 200 and 'id="history"' in r.text and 'id="unmask-form"' in r.text
    assert _buyer_id(world, invt_no) not in r.text


# --- enterprises -------------------------------------------------------------------------------------------


def test_enterprise_receipts_are_its_own(client: TestClient, world: World) -> None:
    login(client, world.cast.keys[AGENT])
    r = client.get("/console/receipts")
    assert r.status_code == 200
    ids = [int(x) for x in re.findall(r'href="/console/receipts/(\d+)"', r.text)]
    assert ids
    with world.engine.connect() as conn:
        recipients = set(conn.execute(select(receipt.c.recipient).where(receipt.c.id.in_(ids))).scalars())
        foreign = conn.execute(select(receipt.c.id).where(receipt.c.recipient != AGENT).limit(1)).scalar_one()
    assert recipients == {AGENT}
    one = client.get(f"/console/receipts/{ids[0]}")
    assert one.status_code == 200 and 'id="entries"' in one.text
    assert client.get(f"/console/receipts/{foreign}").status_code == 404


def test_enterprise_rejections_by_code(client: TestClient, world: World) -> None:
    login(client, world.cast.keys[AGENT])
    r = client.get("/console/rejections")
    assert r.status_code == 200
    assert 'id="rejection-groups"' in r.text
    assert re.search(r"<td>-6210\d\d</td>", r.text)


def test_enterprise_tax_bills_and_documents(client: TestClient, world: World) -> None:
    login(client, world.cast.keys[AGENT])
    tax = client.get("/console/tax")
    assert tax.status_code == 200 and 'id="tax-bills"' in tax.text and "T" in tax.text
    docs = client.get("/console/documents")
    assert docs.status_code == 200 and "CEB621Message" in docs.text
    assert "CEB311Message" not in docs.text  # an agent sends lists, not orders


def test_enterprise_cannot_read_another_enterprise_parcel(client: TestClient, world: World) -> None:
    login(client, world.cast.keys["1101960203"])  # a payment company: not a party to the agent's lists
    with world.engine.connect() as conn:
        invt_no = conn.execute(select(decision.c.invt_no).where(decision.c.invt_no.is_not(None))).scalars()
        numbers = list(invt_no)
    r = client.get(f"/console/search?by=invtNo&q={numbers[0]}")
    assert r.status_code == 200
    assert 'id="history"' not in r.text or "CEB621Message" not in r.text


def test_quota_lookup(client: TestClient, world: World) -> None:
    with world.engine.connect() as conn:
        raw = next(iter(inbox_repo.raw_by_ids(conn, [_first_list_inbox_id(world)]).values()))
    buyer = str(decode(raw, check_codes=False).documents[0].head["buyerIdNumber"])
    login(client, world.cast.keys["3301960001"])  # a platform
    r = client.post("/console/quota", data={"buyer_id": buyer})
    assert r.status_code == 200 and 'id="quota-result"' in r.text
    assert buyer not in r.text  # shown masked
    key = buyer_key(buyer, secret_for(world.engine))  # the secret beside the test database
    with world.engine.connect() as conn:
        used = quota_repo.used(conn, [key], 2026)[key]
    shown = re.search(r'id="used">([\d.]+)', r.text)
    assert shown and float(shown.group(1)) == pytest.approx(used / 100)
    bad = client.post("/console/quota", data={"buyer_id": "110101199001011234"})
    assert bad.status_code == 422 and 'id="problem"' in bad.text
    login(client, world.cast.keys["1101960203"])  # payment companies may not look buyers up
    assert client.get("/console/quota").status_code == 403


def _first_list_inbox_id(world: World) -> int:
    with world.engine.connect() as conn:
        return int(
            conn.execute(
                select(document.c.inbox_id).where(document.c.kind == "list").order_by(document.c.id).limit(1)
            ).scalar_one()
        )


# --- overview ----------------------------------------------------------------------------------------------


def test_admin_overview_counts_everything(client: TestClient, world: World) -> None:
    login(client, world.admin_key)
    r = client.get("/console/overview")
    assert r.status_code == 200
    volumes = dict(re.findall(r"<tr><td>(CEB\d+Message)</td><td class=\"num\">(\d+)</td></tr>", r.text))
    with world.engine.connect() as conn:
        lists = conn.execute(select(document.c.id).where(document.c.kind == "list")).all()
    assert int(volumes["CEB621Message"]) > 0 and "CEB311Message" in volumes
    decided = int(re.search(r'id="decided">(\d+)<', r.text).group(1))  # type: ignore[union-attr]
    assert decided == len(lists)
    assert re.search(r'id="release-rate">\d+\.\d %', r.text)
    for chart in ("chart-volumes", "chart-lists", "chart-rejections", "chart-latency"):
        assert f'id="{chart}"' in r.text
    assert '<script src="/console/static/plotly.min.js"></script>' in r.text
    assert not re.search(r"""src=["']https?://""", r.text)  # nothing from a CDN


def test_officer_and_enterprise_overviews_are_scoped(client: TestClient, world: World) -> None:
    login(client, world.officer_key)
    officer = client.get("/console/overview?lang=en")
    assert officer.status_code == 200 and "lists of your district" in officer.text
    login(client, world.cast.keys[AGENT])
    mine = client.get("/console/overview?lang=en")
    volumes = dict(re.findall(r"<tr><td>(CEB\d+Message)</td><td class=\"num\">(\d+)</td></tr>", mine.text))
    assert set(volumes) == {"CEB621Message"}
    assert client.get("/console/overview?day=not-a-day").status_code == 422


def test_plotly_is_served_from_the_installed_package(client: TestClient) -> None:
    r = client.get("/console/static/plotly.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.content == files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    assert client.get("/console/static/console.css").status_code == 200
    assert client.get("/console/static/../app.py").status_code == 404
