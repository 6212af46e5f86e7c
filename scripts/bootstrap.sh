# Shared by scripts/demo and scripts/test: system packages (as root) and the project venv.
# Usage: source scripts/bootstrap.sh; bootstrap "apt packages..." "pip extras"
#        bootstrap_containers   (podman and what it needs, for the container suite)

# Installs those of the given apt packages that are missing (as root, with apt-get).
apt_install_missing() {
    local missing="" pkg
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        echo "+ apt-get install$missing" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            $missing >/dev/null
    fi
}

bootstrap() {
    local apt_packages="$1" extras="$2"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # shellcheck disable=SC2086 # one word per package
        apt_install_missing $apt_packages
    elif ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
        echo "note: not root, cannot install:$apt_packages (playground hosts need sshd)" >&2
    fi
    if [ ! -x .venv/bin/python ]; then
        python3 -m venv .venv 2>/dev/null || {
            [ "$(id -u)" = 0 ] && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv .venv
        }
    fi
    local target="."
    [ -n "$extras" ] && target=".[$extras]"
    .venv/bin/python -m pip install -q --disable-pip-version-check -e "$target"
}

# The container engine and the tools the images are built with: podman (runc, since crun fails
# on hosts with hybrid cgroups), mmdebstrap for the Debian base, uidmap and slirp4netns for
# rootless use. Installed as root when missing; returns 1 when podman is still not there.
bootstrap_containers() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt_install_missing podman runc mmdebstrap uidmap slirp4netns
    fi
    if [ -z "${CONTAINERS_CONF:-}" ] && [ ! -e /etc/containers/containers.conf ]; then
        export CONTAINERS_CONF="$PWD/containers/containers.conf"
    fi
    command -v podman >/dev/null || {
        echo "note: podman is not installed (not root?): the container suite cannot run" >&2
        return 1
    }
}
