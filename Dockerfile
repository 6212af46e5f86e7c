# remoteops images: the tool itself and the test hosts (sshd, two FTP daemons, telnetd) that
# the container playground and the container test suite start. Build them all with
# scripts/build-images (`remoteops playground images`): it builds `debian:12-slim` from
# Debian's packages when it cannot be pulled, so this file also builds offline. Every stage
# starts from the same Debian 12 base, so the image layers below are shared.
#
# Each image ends with the hash of its build inputs (REMOTEOPS_BUILD_INPUTS, given by
# remoteops.playground._images) in /etc/remoteops-build-inputs and a label: written by a RUN
# step, because engines key a RUN step's cache on the build arguments it sees, while podman 4.3
# reuses a cached image for a LABEL or --label with a new value.

# --- venv: the package and its dependencies in /opt/remoteops (copied by two images) ------
FROM debian:12-slim AS venv
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/remoteops
# containers/wheels/ is a wheelhouse that `remoteops playground images` fills with this
# machine's pip (its index, proxy and certificates) and then builds with PIP_NO_INDEX=1: the
# build itself never needs PyPI. Left empty, pip here uses the index as usual.
ARG PIP_NO_INDEX=0
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_FIND_LINKS=/wheels
COPY containers/wheels/ /wheels/
WORKDIR /src
# Dependencies first, as their own layer: rebuilt only when pyproject.toml changes, not at
# every change of the code or the README (a stub package and README stand in for them).
COPY pyproject.toml ./
RUN mkdir remoteops && echo '__version__ = "0"' > remoteops/__init__.py && touch README.md \
    && /opt/remoteops/bin/pip install --no-cache-dir . \
    && /opt/remoteops/bin/pip uninstall --yes remoteops \
    && rm -rf remoteops build README.md
COPY README.md ./
COPY remoteops ./remoteops
RUN /opt/remoteops/bin/pip install --no-cache-dir --no-deps . \
    && rm -rf /src/build

# --- remoteops: the tool (`podman run --rm localhost/remoteops run -i ... uptime`) -------
FROM debian:12-slim AS remoteops
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/remoteops/bin:$PATH
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 ca-certificates openssh-client telnet \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /bin/bash remoteops
COPY --from=venv /opt/remoteops /opt/remoteops
ARG REMOTEOPS_BUILD_INPUTS=unknown
RUN printf '%s\n' "$REMOTEOPS_BUILD_INPUTS" > /etc/remoteops-build-inputs
LABEL io.remoteops.build-inputs=$REMOTEOPS_BUILD_INPUTS
USER 10001
WORKDIR /home/remoteops
ENTRYPOINT ["remoteops"]
CMD ["--help"]

# --- testhost: what every test host shares (see containers/testhost-init) ----------------
# The user (TESTHOST_USER, default tester) exists at build time; its password, sudo rule and
# authorized key are set at start from the environment, so no secret is baked in the image.
FROM debian:12-slim AS testhost
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini sudo \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --shell /bin/bash tester \
    && sed -i 's/^session\s\+required\s\+pam_loginuid.so/session optional pam_loginuid.so/' \
       /etc/pam.d/login
COPY containers/testhost-init /usr/local/sbin/testhost-init
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/sbin/testhost-init"]

# --- testhost-ssh: OpenSSH sshd on port 22, key and password login ----------------------
FROM testhost AS testhost-ssh
# The host keys are made at first start (ssh-keygen -A): never two containers with one key.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssh-server \
    && rm -rf /var/lib/apt/lists/* /etc/ssh/ssh_host_*_key /etc/ssh/ssh_host_*_key.pub \
    && sed -i 's/^session\s\+required\s\+pam_loginuid.so/session optional pam_loginuid.so/' \
       /etc/pam.d/sshd \
    && printf 'UseDNS no\n' > /etc/ssh/sshd_config.d/10-testhost.conf
EXPOSE 22
CMD ["sshd"]
ARG REMOTEOPS_BUILD_INPUTS=unknown
RUN printf '%s\n' "$REMOTEOPS_BUILD_INPUTS" > /etc/remoteops-build-inputs
LABEL io.remoteops.build-inputs=$REMOTEOPS_BUILD_INPUTS

# --- testhost-ftp: `remoteops serve ftp` (default) or vsftpd, on port 21 -----------------
FROM testhost AS testhost-ftp
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 vsftpd \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/run/vsftpd/empty
COPY --from=venv /opt/remoteops /opt/remoteops
COPY containers/vsftpd.conf /etc/vsftpd.conf
EXPOSE 21 30000-30009
CMD ["serve-ftp"]
ARG REMOTEOPS_BUILD_INPUTS=unknown
RUN printf '%s\n' "$REMOTEOPS_BUILD_INPUTS" > /etc/remoteops-build-inputs
LABEL io.remoteops.build-inputs=$REMOTEOPS_BUILD_INPUTS

# --- testhost-telnet: busybox telnetd on port 23 with the real /bin/login ----------------
FROM testhost AS testhost-telnet
RUN apt-get update \
    && apt-get install -y --no-install-recommends busybox-static \
    && rm -rf /var/lib/apt/lists/*
EXPOSE 23
CMD ["telnetd"]
ARG REMOTEOPS_BUILD_INPUTS=unknown
RUN printf '%s\n' "$REMOTEOPS_BUILD_INPUTS" > /etc/remoteops-build-inputs
LABEL io.remoteops.build-inputs=$REMOTEOPS_BUILD_INPUTS
