# Stand-in for python:3.11-slim-bookworm, for machines that cannot pull it: Debian 12's own
# Python 3.11 (3.11.2) on the debootstrapped base. Same layout where our Dockerfile looks:
# `python` on PATH, venv and headers available.
FROM salary-offline/debian:bookworm
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && ln -s /usr/bin/python3.11 /usr/local/bin/python \
 && ln -s /usr/bin/python3.11 /usr/local/bin/python3
CMD ["python"]
