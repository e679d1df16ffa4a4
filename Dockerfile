# Runway Characters for Discord: the same pinned install as `make run`.

# The join page's browser library, from the npm lock file.
FROM node:20-slim AS web-assets
WORKDIR /assets
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/app/data/bot.db \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080 \
    MPLCONFIGDIR=/tmp/matplotlib

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY --from=web-assets /assets/node_modules/livekit-client/dist ./node_modules/livekit-client/dist
RUN pip install -c constraints.txt . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin botuser \
    && mkdir -p /app/data && chown botuser /app/data

USER botuser
VOLUME ["/app/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WEB_PORT\", \"8080\")}/healthz', timeout=4)"

CMD ["python", "-m", "bot"]
