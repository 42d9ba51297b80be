"""Scenes rendered by code that shares nothing with the pipeline (numpy only)."""
