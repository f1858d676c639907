# filestoraged in a container: Debian slim, a non-root user, the data in a
# volume, a health check on /healthz, the daemon itself as PID 1 (it takes
# SIGTERM and drains in-flight requests before it exits).
#   docker build -t filestoraged .
#   docker run -p 8080:8080 -v fsd-data:/var/lib/filestoraged filestoraged
# Listening on 0.0.0.0 means --auth writes: make a token first with
#   docker run --rm -v fsd-data:/var/lib/filestoraged filestoraged token create --scope admin
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/filestoraged filestoraged \
    && mkdir -p /var/lib/filestoraged && chown filestoraged /var/lib/filestoraged
COPY setup.cfg pyproject.toml README.md /src/
COPY filestoraged /src/filestoraged
RUN pip install --no-cache-dir /src && rm -rf /src
USER filestoraged
ENV FILESTORAGED_HOST=0.0.0.0 FILESTORAGED_PORT=8080 FILESTORAGED_DATA_DIR=/var/lib/filestoraged
VOLUME /var/lib/filestoraged
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["filestoraged"]
