"""Helpers the tests share (fixtures stay in conftest.py): import them, never a test module."""
