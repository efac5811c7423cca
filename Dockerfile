# Container image for the Predict API: Gunicorn serving predict_service, non-root, on :8000.
#
# The official image, a patch release on Debian trixie pinned by its multi-platform index digest
# (linux/amd64 and linux/arm64 among its platforms; docker-library/repo-info,
# repos/python/remote/3.14.7-slim-trixie.md): a rebuilt tag cannot change what ships. Python 3.14
# because it served a request with the least CPU of 3.12-3.14 (bench/README.md). Written out in both FROM lines, not through an ARG: Dependabot proposes new
# tags and digests only for FROM lines it can read. scripts/image-test.sh builds this file as is,
# and only where no registry is reachable builds a copy whose FROM names a local stand-in.

# ---- build: resolve the runtime dependencies into a self-contained venv --------------------------
FROM python:3.14.7-slim-trixie@sha256:ce40764625a4ff50df3548277632e7f96c4e77fe75fa848aae9885476e7df5a4 AS build

# The venv has no pip/setuptools of its own (nothing to strip later): the base's pip installs into
# it through --python. The same path in both stages keeps the venv's interpreter symlink valid.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv --without-pip /opt/venv

WORKDIR /src
# Only what building the package needs (.dockerignore keeps everything else out of the context).
COPY constraints.txt setup.cfg pyproject.toml README.md ./
COPY predict_service/ predict_service/
# Non-editable install of the package and its runtime requirements only (no extras: boto3, test
# and lint tools never reach the image), at the versions pinned in constraints.txt. Bytecode only
# at the level the service runs with (PYTHONOPTIMIZE=2, below): pip's own would never be read.
# Swagger UI's source maps (9 MB) are for debugging its minified code and are never served.
RUN python -m pip --python /opt/venv/bin/python install --no-cache-dir --no-compile \
        -c constraints.txt . \
    && find /opt/venv/lib -path '*/swagger_ui_bundle/*' -name '*.map' -delete \
    && /opt/venv/bin/python -m compileall -q -j 0 -o 2 --invalidation-mode unchecked-hash \
        /opt/venv/lib

# ---- runtime: the venv and the Gunicorn config, nothing else ------------------------------------
FROM python:3.14.7-slim-trixie@sha256:ce40764625a4ff50df3548277632e7f96c4e77fe75fa848aae9885476e7df5a4 AS runtime

# Numeric uid/gid so orchestrators can verify "non-root" without reading /etc/passwd; a home dir
# because some libraries expect one. --no-log-init avoids a huge sparse lastlog for a high uid.
RUN groupadd --gid 10001 app \
    && useradd --no-log-init --uid 10001 --gid 10001 \
       --home-dir /home/app --create-home --shell /usr/sbin/nologin app

# No .pyc writes at run time (the root filesystem is read-only: the bytecode is compiled at build
# time), unbuffered output so log lines reach the log driver immediately, and -OO: no docstrings
# in memory, 2 MB less per worker (bench/README.md; the service and its libraries never read
# them, and it is tested running so). It also drops assert statements, which no code here relies on.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONOPTIMIZE=2

# The official image ships its standard library without bytecode, and nothing can be cached at run
# time: compile it here, at the level above, or every start compiles ~300 modules again (~0.5 s).
# Parts a server never imports are left out. unchecked-hash (here and above): the sources never
# change in the image, so the bytecode is used without comparing file times, which a build that
# rewrites timestamps (--timestamp, SOURCE_DATE_EPOCH) would otherwise silently invalidate.
RUN python -m compileall -q -j 0 -o 2 --invalidation-mode unchecked-hash \
        -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3|ensurepip|pydoc_data|distutils|site-packages|dist-packages)/' \
        "$(python -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')"

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py ./

# Where an image in the registry came from (values from scripts/image-labels.sh). Declared this
# late so a new commit does not invalidate the cached layers above.
ARG VCS_REF=unknown CREATED=unknown VERSION=unknown SOURCE_URL=unknown
LABEL org.opencontainers.image.title="predict-api" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE_URL}"

USER 10001:10001
EXPOSE 8000
# Python instead of curl (not in the image). The probe never goes through a proxy and follows
# PORT like gunicorn.conf.py does (default 8000); a refused connection, a timeout or an HTTP error
# status raises, so python exits 1.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.build_opener(r.ProxyHandler({})).open('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=2)"]
# Gunicorn finishes in-flight requests on SIGTERM (within graceful_timeout) and exits 0.
STOPSIGNAL SIGTERM
# The settings are checked first, so a bad PORT or WEB_CONCURRENCY stops the task with one line naming
# it (Gunicorn parses WEB_CONCURRENCY on import, with a traceback); then exec makes Gunicorn PID 1, so
# it receives the stop signal itself. Every setting (bind, workers, timeouts, worker_tmp_dir=/dev/shm,
# no control socket) lives in gunicorn.conf.py and the environment.
CMD ["sh", "-c", "python gunicorn.conf.py && exec gunicorn --config gunicorn.conf.py"]
