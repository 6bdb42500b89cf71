# Sourced by scripts/serve and scripts/test: make sure .venv exists and holds this checkout.
# Usage: bootstrap_venv [EXTRAS]   (e.g. "dev"); reinstalls only when pyproject.toml changed.

_find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    echo "error: Python 3.11 or newer is required (set PYTHON=/path/to/python3.11)." >&2
    return 1
}

bootstrap_venv() {
    local extras="${1:-}"
    local spec="."
    [ -n "$extras" ] && spec=".[$extras]"
    if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
        local python
        python="$(_find_python)"
        echo "Creating .venv with $("$python" --version 2>&1)..." >&2
        rm -rf .venv
        "$python" -m venv .venv
    fi
    local digest
    digest="$(.venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest()[:16])')"
    local stamp=".venv/.installed-${extras:-runtime}-${digest}"
    if [ ! -f "$stamp" ]; then
        echo "Installing mcp-agent-mail ($spec) into .venv: under a minute on a fresh clone, a dot per package..." >&2
        local started=$SECONDS log=".venv/pip-install.log" status=0
        .venv/bin/python -m pip install --progress-bar off -e "$spec" >"$log" 2>&1 &
        local pip_pid=$!
        _pip_dots "$log" "$pip_pid"
        wait "$pip_pid" || status=$?
        if [ "$status" -ne 0 ]; then
            echo "error: pip install failed (exit $status); its output follows (also in $log)." >&2
            cat "$log" >&2
            return "$status"
        fi
        rm -f .venv/.installed-"${extras:-runtime}"-*
        touch "$stamp"
        echo "Done: .venv is ready ($((SECONDS - started)) s; pip's log is $log)." >&2
    fi
}

# Print a dot on stderr for each package pip collects or unpacks, until process $2 ends.
_pip_dots() {
    local log="$1" pid="$2" shown=0 seen
    while kill -0 "$pid" 2>/dev/null; do
        seen="$(grep -cE '^(Collecting|Processing) ' "$log" 2>/dev/null || true)"
        while [ "${seen:-0}" -gt "$shown" ]; do
            printf . >&2
            shown=$((shown + 1))
        done
        sleep 0.5
    done
    seen="$(grep -cE '^(Collecting|Processing) ' "$log" 2>/dev/null || true)"
    while [ "${seen:-0}" -gt "$shown" ]; do
        printf . >&2
        shown=$((shown + 1))
    done
    [ "$shown" -gt 0 ] && echo >&2
    return 0
}

# Install the Debian package $1 with apt-get (root, or password-less sudo). $2 names what is missing and $3 what
# happens without it, for the warning printed (instead of failing) when it cannot be installed.
apt_install() {
    local package="$1" missing="$2" consequence="$3" sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            echo "warning: $missing is missing and installing it needs root; $consequence." >&2
            return 0
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "warning: $missing is missing and apt-get is unavailable; $consequence." >&2
        return 0
    fi
    echo "Installing $package (Debian package)..." >&2
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package"; } >/dev/null; then
        echo "warning: installing $package failed; $consequence." >&2
    fi
}

# Install Debian's redis-server when it is missing (the rate-limit tests start a private one).
ensure_redis_server() {
    command -v redis-server >/dev/null 2>&1 && return 0
    apt_install redis-server redis-server "Redis tests will be skipped"
}

# Install Debian's chromium when it is missing (the browser tests in tests/web/browser drive it with Playwright;
# no browser is ever downloaded).
ensure_chromium() {
    [ -x /usr/bin/chromium ] && return 0
    apt_install chromium /usr/bin/chromium "browser tests will be skipped"
}

# Install Debian's postgresql when no server binaries are present (the PostgreSQL pass of the suite runs a private
# cluster made with them). Only the binaries are used: the tests never start or touch the system's own cluster.
ensure_postgresql() {
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && return 0
    apt_install postgresql PostgreSQL "PostgreSQL tests cannot run"
}
