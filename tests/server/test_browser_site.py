"""The site page in Debian's chromium: the patrols that covered a site with their objects by
status, and its case file, downloaded from the page and read back (pages, images and the
SHA-256 of the original images, against hashes of the uploaded files taken here)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from .test_browser import _shot, _sign_in, browser, live_server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PATROL = "yard survey"  # the live server's flight, recorded without a plan: named by itself


def _confirm_site(base: str, auth: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """Confirm every object of the synthetic patrol at its first site; returns the site and
    the objects' details (findings included)."""
    objects = httpx.get(
        f"{base}/api/v1/objects", params={"patrol": PATROL, "limit": 1000}, headers=auth
    ).json()["data"]
    site = next(o["site_id"] for o in objects if o["site_id"])
    details = []
    for obj in (o for o in objects if o["site_id"] == site):
        httpx.post(
            f"{base}/api/v1/objects/{obj['id']}/reviews",
            json={"decision": "confirm", "comment": "hot spot by the stack"},
            headers=auth,
        ).raise_for_status()
        details.append(httpx.get(f"{base}/api/v1/objects/{obj['id']}", headers=auth).json())
    return site, details


def test_site_page_lists_patrols_and_downloads_the_case_file(live_server, browser) -> None:  # noqa: F811
    base, seed = live_server
    auth = {"Authorization": f"Bearer {seed['token']}"}
    site, details = _confirm_site(base, auth)
    context = browser.new_context(viewport={"width": 1300, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base, "inspector")
    page.goto(f"{base}/sites/{site}")
    page.wait_for_selector("body[data-ready='1']")
    row = page.locator(f"#patrols tr[data-patrol='{PATROL}']")
    assert row.locator("td[data-status='confirmed']").inner_text() == str(len(details))
    assert row.locator("td[data-status='pending']").inner_text() == "0"
    assert page.locator("#chart rect[data-status='confirmed']").count() == 1
    _shot(page, "site-page")
    with page.expect_download() as download:
        row.locator("a.case-file").click()
    assert download.value.suggested_filename == f"case-file-{site}-yard_survey.pdf"
    pdf = PdfReader(io.BytesIO(Path(download.value.path()).read_bytes()))
    text = "\n".join(p.extract_text() for p in pdf.pages)

    # cover, map extract, one page per confirmed object (each fits one), the appendix
    assert len(pdf.pages) == 2 + len(details) + 1
    # per object: its best capture's overlay and a crop per capture (at most 6)
    crops = [
        (1 if d["findings"][0]["has_overlay"] else 0) + min(len(d["findings"]), 6) for d in details
    ]
    assert [len(p.images) for p in pdf.pages[2:-1]] == crops
    for d in details:
        assert d["id"] in text and d["status"] == "confirmed"
    uploaded = {hashlib.sha256(p.read_bytes()).hexdigest() for p in seed["shots"]}
    used = {f["capture_id"] for d in details for f in d["findings"]}
    for capture_id in used:
        sha = httpx.get(f"{base}/api/v1/captures/{capture_id}", headers=auth).json()["sha256"]
        assert sha in uploaded and sha in pdf.pages[-1].extract_text()
    assert errors == []
    context.close()
