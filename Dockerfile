# syntax=docker/dockerfile:1
# Not built in our CI (no Docker engine there); linted with hadolint by scripts/test.

# --- testhost: an sshd with a test user, for people who want container targets -----------
# Run: docker run -d -p 2222:22 -v "$HOME/.ssh/id_ed25519.pub:/keys/authorized_keys:ro" \
#        remoteops-testhost
FROM debian:12-slim AS testhost
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-server sudo \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /run/sshd /keys \
    && useradd --create-home --shell /bin/bash tester \
    && printf 'tester ALL=(ALL) NOPASSWD: ALL\n' > /etc/sudoers.d/tester \
    && chmod 0440 /etc/sudoers.d/tester \
    && printf 'AuthorizedKeysFile /keys/authorized_keys .ssh/authorized_keys\nPasswordAuthentication no\nUseDNS no\n' \
       > /etc/ssh/sshd_config.d/testhost.conf
EXPOSE 22
CMD ["/usr/sbin/sshd", "-D", "-e"]

# --- the remoteops image (default target) ------------------------------------------------
FROM python:3.11-slim AS remoteops
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-client telnet \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first, as their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml README.md ./
RUN mkdir remoteops && echo '__version__ = "0"' > remoteops/__init__.py \
    && pip install --no-cache-dir . \
    && pip uninstall --yes remoteops \
    && rm -rf remoteops build
COPY remoteops ./remoteops
COPY inventory ./inventory
RUN pip install --no-cache-dir --no-deps . \
    && useradd --create-home --uid 10001 --shell /bin/bash remoteops
USER 10001
WORKDIR /home/remoteops
ENTRYPOINT ["remoteops"]
CMD ["--help"]
