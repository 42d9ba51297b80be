"""The site page in Debian's chromium: the patrols that covered a site with their objects by
status, and its case file, downloaded from the page and read back (pages, images and the
SHA-256 of the original images, against hashes of the uploaded files taken here)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from imagery.synthetic import Anomaly, SurveyLine, make_basemap, render_captures
from zone.sites import load_sites

from .conftest import SITES
from .test_browser import (  # noqa: F401 (fixtures)
    ARTIFACTS,
    _shot,
    _sign_in,
    _upload_and_process,
    browser,
    live_server,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PATROL = "yard survey"  # the live server's flight, recorded without a plan: named by itself
AGAIN = "yard survey again"


def _later_frames(out_dir: Path) -> list[Path]:
    """The live server's scene (its two hot spots by the zone's first stack) seen again from
    a line 2 m further east: other image bytes, the same things on the ground."""
    zone = load_sites(SITES)
    stack = zone.stacks[0]
    bounds = (stack.lon - 0.002, stack.lat - 0.0015, stack.lon + 0.002, stack.lat + 0.0015)
    basemap = make_basemap(zone, bounds_lonlat=bounds, gsd_m=0.3)
    # 2 m east at 34.8 N: 2 / (111_195 * cos(34.8 deg)) = 0.0000219 deg of longitude
    poses = SurveyLine(stack.lon - 0.0003 + 0.0000219, stack.lat, 90.0, 15.0, 3, alt_rel_m=100)
    hot = [
        Anomaly("hotspot", stack.lon - 0.0002, stack.lat + 0.0001, radius_m=3.0),
        Anomaly("hotspot", stack.lon + 0.0001, stack.lat - 0.0001, radius_m=2.0, rise_c=25.0),
    ]
    return render_captures(
        poses.poses(), basemap=basemap, anomalies=hot, kind="thermal", out_dir=out_dir
    )


def _fly_again(base: str, auth: dict[str, str], shots: list[Path]) -> None:
    """A later flight of the yard, recorded without a plan: a patrol of its own."""
    _upload_and_process(base, auth, AGAIN, shots)


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


def test_site_page_lists_patrols_and_downloads_the_case_file(
    live_server,  # noqa: F811
    browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    base, seed = live_server
    auth = {"Authorization": f"Bearer {seed['token']}"}
    site, details = _confirm_site(base, auth)
    _fly_again(base, auth, _later_frames(tmp_path / "again"))
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
    # the later patrol, still pending, and each of its objects beside the first patrol's
    again = page.locator(f"#patrols tr[data-patrol='{AGAIN}']")
    assert again.locator("td[data-status='pending']").inner_text() == str(len(details))
    assert page.locator("#patrols tbody tr").all_inner_texts()[0].startswith(PATROL)
    assert page.locator("#chart svg g.bar").count() == 2
    pairs = page.locator("#compare .pair")
    assert pairs.count() == len(details)
    loaded = "(i) => i.complete && i.naturalWidth > 0"
    page.wait_for_function(f"[...document.querySelectorAll('#compare img')].every({loaded})")
    assert page.locator("#compare img").count() == 2 * len(details)
    _shot(page, "site-page")
    with page.expect_download() as download:
        row.locator("a.case-file").click()
    assert download.value.suggested_filename == f"case-file-{site}-yard_survey.pdf"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    download.value.save_as(ARTIFACTS / "case-file.pdf")
    pdf = PdfReader(ARTIFACTS / "case-file.pdf")
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
