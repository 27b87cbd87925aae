"""Fixtures every test folder shares: real servers started on free ports."""

import os

# The tests start servers (PostgreSQL, the services) from threads while gRPC
# channels are busy. With gRPC's fork support on, a child forked at such a
# moment could crash before it ran its program (PostgreSQL restarted by the
# fault tests died with SIGSEGV about one time in three). The children exec at
# once and use no gRPC of ours, so they need none of it. Set before grpc loads.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

pytest_plugins = ["devstack.fixtures"]
