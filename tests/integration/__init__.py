"""Whole-stack tests: run against each stack SHIPPY_TEST_STACKS names (see conftest.py)."""
