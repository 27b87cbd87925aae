"""Fixtures every test folder shares: real servers started on free ports."""

pytest_plugins = ["devstack.fixtures"]
