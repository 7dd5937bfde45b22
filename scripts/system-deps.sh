#!/usr/bin/env bash
# Make sure this machine has what csmap needs from the distribution; install it when we can.
#   scripts/system-deps.sh run    PostgreSQL + PostGIS (unless DATABASE_URL is set), Node.js and npm
#   scripts/system-deps.sh test   the same, plus Chromium for the browser tests
#   scripts/system-deps.sh bench  the same as run, plus Chromium (page paint times) and Debian's wrk load tool
set -euo pipefail
purpose="${1:-run}"
missing=()

have() { command -v "$1" >/dev/null 2>&1; }
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ -z "${DATABASE_URL:-}" ]; then
  bindir="$(pg_bindir)"
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    missing+=(postgresql)
  else
    version="$(basename "$(dirname "$bindir")")"
    [ -f "/usr/share/postgresql/$version/extension/postgis.control" ] || missing+=("postgresql-$version-postgis-3")
  fi
fi
python="${PYTHON:-$(command -v python3.11 || command -v python3 || true)}"
if [ -z "$python" ]; then
  missing+=(python3 python3-venv)
elif ! "$python" -c "import ensurepip, venv" >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
# WeasyPrint (PDF exports) needs Pango and a font with Arial's metrics.
ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0' || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
[ -e /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || missing+=(fonts-liberation)
have node || missing+=(nodejs)
have npm || missing+=(npm)
if [ "$purpose" = "test" ] || [ "$purpose" = "bench" ]; then
  have chromium || [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
if [ "$purpose" = "bench" ]; then
  have wrk || missing+=(wrk)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  apt=(apt-get)
elif have sudo && sudo -n true 2>/dev/null; then
  apt=(sudo apt-get)
else
  echo "csmap needs: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]} (then for PostGIS: postgresql-<version>-postgis-3)" >&2
  exit 1
fi

echo "Installing from the distribution: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${apt[@]}" update -qq
"${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# A fresh PostgreSQL install tells us its version only now: add PostGIS for it.
if [ -z "${DATABASE_URL:-}" ]; then
  version="$(basename "$(dirname "$(pg_bindir)")")"
  if [ ! -f "/usr/share/postgresql/$version/extension/postgis.control" ]; then
    "${apt[@]}" install -y -qq --no-install-recommends "postgresql-$version-postgis-3" >/dev/null
  fi
fi
