# syntax=docker/dockerfile:1
# One image for every overdue process; docker-compose.yml picks the command:
#   overdue db upgrade | overdue worker | overdue intake ... | overdue sandbox sms ...
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Third-party dependencies first, in their own layer: rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The project. Keep in step with [tool.setuptools] in pyproject.toml (tests/test_compose.py
# checks). alembic.ini, migrations/ and policy/ are data the code finds beside its packages.
COPY README.md alembic.ini worker.py ./
COPY overdue/ overdue/
COPY domain/ domain/
COPY workflows/ workflows/
COPY activities/ activities/
COPY starter/ starter/
COPY sandbox/ sandbox/
COPY officer/ officer/
COPY migrations/ migrations/
COPY policy/ policy/
# Editable on purpose: overdue.storage.migrate locates alembic.ini and migrations/ (and the
# settings locate policy/) relative to the installed `overdue` package, and those are not in
# the wheel. A plain `pip install .` puts the package in site-packages, where
# `overdue db upgrade` fails with "Path doesn't exist: .../site-packages/migrations".
RUN pip install --no-deps -e . \
    && python -m compileall -q /app

# Non-root. /data is where the SMS sandbox keeps its store (a named volume mounted there
# inherits this ownership on first use).
RUN groupadd --system --gid 10001 overdue \
    && useradd --system --uid 10001 --gid overdue --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin overdue \
    && mkdir -p /data \
    && chown overdue:overdue /data
USER 10001:10001

CMD ["overdue", "--help"]
