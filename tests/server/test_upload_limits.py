"""Uploads and previews under limits: pixels read from the header, chunked bodies,
unfinished files swept, and an upload that costs the same however many came before."""

from __future__ import annotations

import io
import os
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, col, select

from server.uploads import sweep_partials
from store.models import Capture


def _png(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _flight(client: TestClient, h: dict[str, str]) -> str:
    r = client.post("/api/v1/flight-records", json={"name": "hand-flown"}, headers=h)
    assert r.status_code == 201
    flight_id: str = r.json()["id"]
    return flight_id


def test_pixel_bomb_upload_is_refused_before_decoding(
    client: TestClient, headers, settings
) -> None:
    h = headers["operator"]
    flight = _flight(client, h)
    bomb = _png((13000, 13000))  # 169 million pixels in ~160 kB
    assert len(bomb) < settings.upload_max_bytes
    r = client.post(f"/api/v1/flights/{flight}/uploads", files={"file": ("b.png", bomb)}, headers=h)
    assert r.status_code == 413
    assert "169 million pixels" in r.json()["detail"] and "100 million" in r.json()["detail"]
    assert list((settings.flights_dir / flight).iterdir()) == []  # nothing kept, no .part


def test_stored_bomb_preview_is_refused_and_sizes_are_few(
    client: TestClient, headers, settings, engine
) -> None:
    h = headers["operator"]
    flight = _flight(client, h)
    r = client.post(
        f"/api/v1/flights/{flight}/uploads",
        files={"file": ("ok.png", _png((3000, 2000)))},
        headers=h,
    )
    assert r.status_code == 201, r.text
    capture_id = r.json()["capture_id"]
    for max_px in (64, 100, 300, 301, 1000, 5000, 8192):
        assert client.get(
            f"/api/v1/captures/{capture_id}/image?max_px={max_px}", headers=h
        ).is_success
    # 64 and 100 -> 256; 300 and 301 -> 512; 1000 -> 1024; 5000 and 8192 -> 2048
    cached = sorted(p.name for p in (settings.data_dir / "previews").iterdir())
    assert cached == [f"{capture_id}_{n}.jpg" for n in (1024, 2048, 256, 512)]
    # a bomb that got onto disk by other means (a worker's folder, an older version)
    with Session(engine) as session:
        capture = session.get(Capture, uuid.UUID(capture_id))
        assert capture is not None
        Path(capture.path).write_bytes(_png((13000, 13000)))
    os.utime(capture.path, (time.time() + 5, time.time() + 5))  # newer than the cache
    r = client.get(f"/api/v1/captures/{capture_id}/image?max_px=256", headers=h)
    assert r.status_code == 413 and "million pixels" in r.json()["detail"]


def test_chunked_body_over_the_limit_is_413(client: TestClient, headers, settings) -> None:
    flight = _flight(client, headers["operator"])
    limit = settings.upload_max_bytes + 64 * 1024  # the multipart allowance of the middleware
    boundary = "XyZ"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def body():  # a generator: httpx sends it chunked, without Content-Length
        yield head + b"\xff\xd8\xff"
        for _ in range(limit // (256 * 1024) + 2):
            yield b"\0" * (256 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post(
        f"/api/v1/flights/{flight}/uploads",
        content=body(),
        headers={
            **headers["operator"],
            "content-type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert r.status_code == 413 and str(limit) in r.json()["detail"]


def test_stale_partial_files_are_swept(tmp_path: Path) -> None:
    now = time.time()
    stale = tmp_path / "flights" / "f1" / ".upload-abc.part"
    fresh = tmp_path / "flights" / "f2" / ".upload-def.part"
    done = tmp_path / "flights" / "f1" / "IMG_0001.JPG"
    for path in (stale, fresh, done):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    os.utime(stale, (now - 7200, now - 7200))  # two hours old, timeout one hour
    os.utime(done, (now - 7200, now - 7200))
    assert sweep_partials(tmp_path, older_than_s=3600, now=now) == 1
    assert not stale.exists() and fresh.exists() and done.exists()


def test_startup_sweeps_partials(app, settings) -> None:  # type: ignore[no-untyped-def]
    left = settings.flights_dir / "killed" / ".upload-x.part"
    left.parent.mkdir(parents=True)
    left.write_bytes(b"\0" * 1024)
    old = time.time() - settings.partial_upload_timeout_s - 60
    os.utime(left, (old, old))
    with TestClient(app):
        deadline = time.monotonic() + 10
        while left.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert not left.exists()


def test_upload_does_not_rescan_the_folder(client: TestClient, headers, settings, engine) -> None:
    """A file dropped in the folder by hand is not recorded by a later upload of another photo."""
    h = headers["operator"]
    flight = _flight(client, h)
    first = client.post(
        f"/api/v1/flights/{flight}/uploads", files={"file": ("a.png", _png((64, 48)))}, headers=h
    )
    assert first.status_code == 201
    folder = settings.flights_dir / flight
    (folder / "stray.png").write_bytes(_png((64, 48)))
    second = client.post(
        f"/api/v1/flights/{flight}/uploads", files={"file": ("b.png", _png((64, 48)))}, headers=h
    )
    assert second.status_code == 201
    with Session(engine) as session:
        rows = session.exec(select(Capture).order_by(col(Capture.index))).all()
    assert [(Path(c.path).name, c.index) for c in rows] == [("a.png", 0), ("b.png", 1)]
