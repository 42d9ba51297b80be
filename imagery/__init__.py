"""Georeference drone captures and find emission anomalies in them.

The public API, module by module (imported where used; nothing heavy loads here):

* :func:`imagery.pipeline.process_capture` - one file in, a picklable
  :class:`~imagery.pipeline.CaptureResult` out (findings placed on the ground, footprint,
  failure reason); :func:`imagery.dispatch.capture.process_job` is the same from a job's
  parameters, for the dispatcher.
* :func:`imagery.persist.write_results` / :func:`imagery.persist.finish_flight` - the
  single, idempotent writer into :mod:`store`, then grouping and patrol change;
  :func:`imagery.persist.write_outcomes` is the dispatcher's writer.
* :mod:`imagery.metadata`, :mod:`imagery.camera`, :mod:`imagery.pose` - pose and
  intrinsics from EXIF/XMP and the bundled camera database.
* :class:`imagery.georef.Georef` - pixel <-> ground ray casting (flat ground or a DEM),
  footprints, position error; :func:`imagery.geotiff.write_geotiff`.
* :mod:`imagery.detect` - the detector protocol and registry, and the built-in detectors.
* :mod:`imagery.synthetic` - basemaps and rendered captures for tests, demo and benchmarks;
  :mod:`imagery.evaluate` scores detectors on them.
"""
