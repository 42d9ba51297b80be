"""The EcoPatrol web service and UI: FastAPI over the shared SQLModel store.

``server.main.create_app(settings)`` builds the app; ``ecopatrol serve`` migrates
the database (Alembic, ``store.migrations``) and runs it under uvicorn.

- ``settings``: pydantic-settings, ``ECOPATROL_*`` and ``.env``.
- ``security``, ``throttle``, ``api.deps``: argon2id passwords, JWT bearer tokens that
  double as an HttpOnly SameSite=strict cookie, per-route role checks.
- ``api.routes.*``: one router per resource (sites, missions/plans, flights, captures,
  findings and reviews, exports, users, login).
- ``planning`` calls ``missions.plan.plan_patrol``; ``flights`` + ``flying`` fly stored
  sorties with ``missions.flight.Vehicle`` (SITL via ``sitl.instance``); ``processing``
  queues each uploaded photo's job (``imagery.dispatch.capture.ingest_flight``) and, for a
  single machine, drains the queue with ``imagery.dispatch.Dispatcher`` in a thread.
- ``exports`` (GeoJSON, CSV, KML), ``report`` (self-contained HTML per patrol),
  ``uploads`` (streamed, sniffed, size-limited), ``previews`` (JPEG of any capture).
- ``static/``: the pages, with Leaflet and Swagger UI vendored (no CDN).
"""
