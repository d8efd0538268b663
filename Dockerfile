# perftiers: API, dashboard and scheduler (`perftiers serve`); also runs `perftiers sync` / `refresh`
# / `doctor` as one-off commands. See docs/deployment.md.
#
#   docker build -t perftiers .
#   docker run -p 8000:8000 -v /srv/perftiers:/var/lib/perftiers --env-file perftiers.env perftiers

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/perftiers
WORKDIR /src
# The pinned versions first, so source edits do not reinstall every dependency.
COPY constraints.txt pyproject.toml README.md ./
COPY src ./src
RUN /opt/perftiers/bin/pip install -c constraints.txt .

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="perftiers" \
      org.opencontainers.image.description="Product performance tiers for e-commerce brands"
RUN useradd --system --uid 10001 --home-dir /var/lib/perftiers --create-home perftiers
COPY --from=build /opt/perftiers /opt/perftiers
ENV PATH=/opt/perftiers/bin:$PATH \
    PERFTIERS_HOME=/var/lib/perftiers \
    PYTHONUNBUFFERED=1
USER perftiers
WORKDIR /var/lib/perftiers
VOLUME ["/var/lib/perftiers"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
ENTRYPOINT ["perftiers"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
