# The image of any of the four services: the build argument SERVICE names it
# (user-service, email-service, consignment-service or vessel-service). Build
# context: the repository's root.
#
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=user-service -t shippy/user-service .
#
# The builder installs the service and exactly the dependencies uv.lock pins for
# it into /opt/venv, with uv; the runtime stage copies that venv alone and runs
# the service's console script as a non-root user.
#
# Behind a TLS-intercepting proxy, the base image has to trust the proxy's CA
# (pip reads PIP_CERT, uv reads SSL_CERT_FILE); CI's stand-in base images do
# (see .ci/docker-prepare).

FROM python:3.11-slim-bookworm AS builder

ARG UV_VERSION=0.13.8
RUN PIP_ROOT_USER_ACTION=ignore python -m pip install --no-cache-dir --disable-pip-version-check \
      "uv==${UV_VERSION}"

ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON=/usr/local/bin/python3 \
    UV_PYTHON_DOWNLOADS=never \
    UV_FROZEN=1 \
    UV_NO_CACHE=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
WORKDIR /src

# The workspace's manifests first: the layer of third-party dependencies is then
# rebuilt only when uv.lock or a pyproject.toml changes, not with every source edit.
# uv reads every member's manifest: a new workspace member needs a line here.
COPY pyproject.toml uv.lock ./
COPY proto/pyproject.toml proto/
COPY shared/micro/pyproject.toml shared/micro/
COPY shared/kit/pyproject.toml shared/kit/
COPY devstack/pyproject.toml devstack/
COPY user-service/pyproject.toml user-service/
COPY email-service/pyproject.toml email-service/
COPY consignment-service/pyproject.toml consignment-service/
COPY vessel-service/pyproject.toml vessel-service/
COPY user-cli/pyproject.toml user-cli/
COPY consignment-cli/pyproject.toml consignment-cli/
COPY plugins/mqtt/pyproject.toml plugins/mqtt/
COPY plugins/rabbitmq/pyproject.toml plugins/rabbitmq/
COPY plugins/etcd/pyproject.toml plugins/etcd/

ARG SERVICE
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<name>-service is required" >&2; exit 1; }
RUN uv sync --no-dev --package "shippy-${SERVICE}" --no-install-workspace

COPY proto/ proto/
COPY shared/ shared/
COPY ${SERVICE}/ ${SERVICE}/
# --no-editable: the venv holds the code itself, not links into /src.
RUN uv sync --no-dev --package "shippy-${SERVICE}" --no-editable \
 && ln -s "${SERVICE}" /opt/venv/bin/shippy-service


FROM python:3.11-slim-bookworm

ARG SERVICE
LABEL org.opencontainers.image.title="shippy ${SERVICE}"

RUN useradd --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin shippy
COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MICRO_SERVER_ADDRESS=0.0.0.0:50051
USER shippy
EXPOSE 50051

# grpc.health.v1 on the port MICRO_SERVER_ADDRESS binds (shared/kit/src/shippy_kit/health_probe.py).
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
  CMD ["python", "-m", "shippy_kit.health_probe"]

# The service's console script (user-service, ...), linked under one name.
# SIGTERM makes it deregister and drain; run it with an init (compose: init:
# true) so that it is not PID 1.
CMD ["shippy-service"]
