"""Uploads: streamed under a size limit, sniffed, safely named, all or nothing on disk."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from server.uploads import safe_name


def _jpeg(size: tuple[int, int] = (128, 96)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (40, 120, 60)).save(buf, format="JPEG")
    return buf.getvalue()


def _flight(client: TestClient, h) -> dict:
    r = client.post("/api/v1/flight-records", json={"name": "hand-flown"}, headers=h)
    assert r.status_code == 201
    return r.json()


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_upload_image_and_preview(client: TestClient, headers, settings) -> None:
    h = headers["operator"]
    flight = _flight(client, h)
    body = _jpeg()
    r = client.post(
        f"/api/v1/flights/{flight['id']}/uploads",
        files={"file": ("DJI_0001.JPG", body, "image/jpeg")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    result = r.json()
    assert result["media_type"] == "image/jpeg" and result["size"] == len(body)
    folder = settings.flights_dir / flight["id"]
    assert (folder / "DJI_0001.JPG").read_bytes() == body
    capture = client.get(
        f"/api/v1/captures/{result['capture_id']}", headers=headers["inspector"]
    ).json()
    assert capture["flight_id"] == flight["id"] and capture["status"] == "pending"
    preview = client.get(f"/api/v1/captures/{result['capture_id']}/image?max_px=64", headers=h)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    # 64 px is served at the smallest preview size, 256 px, which a 128 x 96 photo is within
    assert Image.open(io.BytesIO(preview.content)).size == (128, 96)


def test_thermal_tiff_preview_is_stretched(client: TestClient, headers) -> None:
    h = headers["operator"]
    flight = _flight(client, h)
    radiometric = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 3 + 20000
    buf = io.BytesIO()
    Image.fromarray(radiometric).save(buf, format="TIFF")
    r = client.post(
        f"/api/v1/flights/{flight['id']}/uploads",
        files={"file": ("T_0001.tif", buf.getvalue(), "image/tiff")},
        headers=h,
    )
    assert r.status_code == 201, r.text
    preview = client.get(f"/api/v1/captures/{r.json()['capture_id']}/image", headers=h)
    pixels = np.asarray(Image.open(io.BytesIO(preview.content)))
    assert pixels.min() < 10 and pixels.max() > 245


def test_uploads_refused_with_reasons_and_nothing_left_behind(
    client: TestClient, headers, settings
) -> None:
    h = headers["operator"]
    flight = _flight(client, h)
    url = f"/api/v1/flights/{flight['id']}/uploads"
    cases = [
        (("evil.jpg", b"MZ\x90\x00 not an image", "image/jpeg"), 415, "not a JPEG"),
        (("photo.png", _jpeg(), "image/png"), 415, "content is image/jpeg"),
        (("empty.jpg", b"", "image/jpeg"), 415, "empty"),
        (
            ("big.jpg", b"\xff\xd8\xff" + b"\x00" * (settings.upload_max_bytes + 10), "image/jpeg"),
            413,
            "limit",
        ),
        (("captures.jsonl", b'{"index": "x"}\n', "application/jsonl"), 415, "captures.jsonl"),
    ]
    for file, code, reason in cases:
        r = client.post(url, files={"file": file}, headers=h)
        assert r.status_code == code, (file[0], r.status_code, r.text)
        assert reason in r.json()["detail"], (file[0], r.json())
    folder = settings.flights_dir / flight["id"]
    assert _files(folder) == []


def test_traversal_names_stay_in_the_flight_folder(client: TestClient, headers, settings) -> None:
    h = headers["operator"]
    flight = _flight(client, h)
    for name in ("../../etc/passwd.jpg", "..\\..\\boot.ini.jpg", "/abs/x.jpg", ".hidden.jpg"):
        r = client.post(
            f"/api/v1/flights/{flight['id']}/uploads",
            files={"file": (name, _jpeg(), "image/jpeg")},
            headers=h,
        )
        assert r.status_code == 201, (name, r.text)
        assert "/" not in r.json()["name"] and not r.json()["name"].startswith(".")
    folder = settings.flights_dir / flight["id"]
    assert _files(folder) == ["boot.ini.jpg", "hidden.jpg", "passwd.jpg", "x.jpg"]
    assert not (settings.data_dir.parent / "etc").exists()


def test_safe_name_never_leaves_a_separator() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    @given(st.text(min_size=1, max_size=80))
    def check(name: str) -> None:
        try:
            out = safe_name(name)
        except ValueError:
            return
        assert "/" not in out and "\\" not in out and not out.startswith(".") and out
        assert Path(out).name == out

    check()


def test_oversized_body_refused_before_reading(client: TestClient, headers, settings) -> None:
    flight = _flight(client, headers["operator"])
    r = client.post(
        f"/api/v1/flights/{flight['id']}/uploads",
        content=b"x" * 10,
        headers={
            **headers["operator"],
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(settings.upload_max_bytes * 4),
        },
    )
    assert r.status_code == 413
