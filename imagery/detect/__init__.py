"""Detectors: the protocol and registry (:mod:`imagery.detect.base`), thermal hotspots,
plumes, water, and the patrol-level change comparison."""
