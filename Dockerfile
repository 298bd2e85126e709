# syntax=docker/dockerfile:1
# outage-detector, the daemon's image.
#
#   docker build -t outage-detector .
#   docker run -d --name detector --stop-timeout 30 -p 9478:9478 \
#       -v "$PWD/detector.yaml:/etc/detector/detector.yaml:ro" -v detector-data:/data \
#       outage-detector
#
# Three stages: `requirements` cuts the runtime part out of requirements/lock.txt, `build`
# installs it (pinned, hash-checked) and then the project into /opt/detector, and the final
# stage copies only that virtual environment: no dev tools, no build tools, no pip in it.
# Heredocs need BuildKit: the default builder since Docker 23; on older ones set
# DOCKER_BUILDKIT=1. A blank line follows each heredoc: hadolint parses the next instruction
# only after one.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS requirements
WORKDIR /src
COPY requirements/lock.txt pyproject.toml ./
# The lock pins runtime and dev dependencies together. Keep the runtime ones: those that
# pyproject's [project].dependencies name, and, through the lock's "# via" notes, every package
# one of those needs. Each kept pin keeps its hashes. (`pip check` below catches a gap.)
RUN python - <<'PY'
import re
import sys
import tomllib
from pathlib import Path


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
wanted = {norm(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", d).group()) for d in project["dependencies"]}
pins, vias, name, in_via = {}, {}, None, False
for line in Path("lock.txt").read_text().splitlines():
    pin = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
    if pin:
        name, in_via = norm(pin.group(1)), False
        pins[name], vias[name] = [line], set()
    elif name and line.startswith(" "):
        note = line.strip()
        if note.startswith("--hash"):
            pins[name].append(line)
        elif note.startswith("# via"):
            in_via = True
            first = note.removeprefix("# via").strip()
            if first:
                vias[name].add(norm(first.split()[0]))
        elif in_via and note.startswith("#"):
            vias[name].add(norm(note.lstrip("#").split()[0]))
    else:
        name = None
missing = sorted(wanted - pins.keys())
if missing:
    sys.exit(f"requirements/lock.txt lacks {', '.join(missing)}: refresh the lock")
keep, grew = set(wanted), True
while grew:
    grew = False
    for pkg, parents in vias.items():
        if pkg not in keep and parents & keep:
            keep.add(pkg)
            grew = True
text = "".join("\n".join(pins[pkg]) + "\n" for pkg in sorted(keep))
Path("runtime.txt").write_text(text)
print(f"runtime: {len(keep)} of {len(pins)} pinned packages", file=sys.stderr)
PY

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
# the build backend pyproject.toml asks for, pinned; it builds the wheel and stays here
ARG SETUPTOOLS_VERSION=84.2.1
RUN python -m venv --without-pip /opt/detector
# Dependencies first, in their own layer: a change to the code, or to a part of pyproject.toml
# that does not change the runtime set, reuses it (COPY --from is cached by content).
COPY --from=requirements /src/runtime.txt /tmp/runtime.txt
RUN pip --python /opt/detector/bin/python install --require-hashes --no-deps -r /tmp/runtime.txt \
    && pip --python /opt/detector/bin/python check
# then the code
WORKDIR /src
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY probes ./probes
RUN echo "setuptools==${SETUPTOOLS_VERSION}" > /tmp/build-constraints.txt \
    && PIP_CONSTRAINT=/tmp/build-constraints.txt pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && pip --python /opt/detector/bin/python install --no-deps /tmp/wheels/*.whl \
    && pip --python /opt/detector/bin/python check
# every module imports with the runtime set alone (a dev-only import would fail here, not in
# production)
RUN /opt/detector/bin/python -c "import importlib, pkgutil, detector, probes; \
[importlib.import_module(m.name) for p in (detector, probes) \
 for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.') if not m.name.endswith('__main__')]"

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
# set these when building a release: --build-arg VERSION=... --build-arg REVISION=$(git rev-parse HEAD)
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="outage-detector" \
      org.opencontainers.image.description="Sidecar that confirms outages and tells customers first, then keeps them informed until it is over." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# a fixed, numeric, unprivileged user: Kubernetes' runAsNonRoot can check it
RUN groupadd --system --gid 10001 detector \
    && useradd --system --uid 10001 --gid detector --home-dir /data --no-create-home \
       --shell /usr/sbin/nologin detector \
    && mkdir -p /data /etc/detector \
    && chown detector:detector /data

COPY --from=build /opt/detector /opt/detector

# DETECTOR_LISTEN overrides server.listen: inside a container the daemon must answer on every
# interface (the published port, the kubelet's probes), whatever the mounted config says.
ENV PATH=/opt/detector/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DETECTOR_LISTEN=0.0.0.0:9478

USER 10001:10001
WORKDIR /data
# the SQLite store (storage.url: sqlite:////data/detector.db) and anything else it keeps
VOLUME ["/data"]
EXPOSE 9478

# /healthz on the port DETECTOR_LISTEN names (the image has no curl; Python has urllib)
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('DETECTOR_LISTEN', '').rpartition(':')[2] or '9478'; urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=4)"]

# The daemon is PID 1 (exec form, no shell in between), so SIGTERM reaches it: it stops
# checking and gives sends in flight up to 10 s to finish. Allow it that long plus a margin:
# `docker run --stop-timeout 30`, or Kubernetes' terminationGracePeriodSeconds (30 by default).
STOPSIGNAL SIGTERM
ENTRYPOINT ["detector"]
CMD ["run", "-c", "/etc/detector/detector.yaml"]
