# Shared by scripts/run and scripts/test (sourced, POSIX sh).

PYTHON=${PYTHON:-python3}

# apt_install PACKAGE...: Debian packages, as root or through sudo.
apt_install() {
    [ $# -gt 0 ] || return 0
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "$@" >/dev/null
}

# venv_packages: what Debian's python3 lacks to make a virtual environment
# (ensurepip is in python3-venv), printed for apt_install.
venv_packages() {
    "$PYTHON" -c "import ensurepip, venv" >/dev/null 2>&1 || echo python3-venv
}

# install_into_venv PIP_ARGS...: .venv made if missing, then pip install.
install_into_venv() {
    [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q "$@"
}
