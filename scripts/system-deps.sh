#!/usr/bin/env bash
# Debian packages Hadir needs, shared by the Makefile and the Dockerfile so the two
# cannot drift. Usage: system-deps.sh runtime|test [--check]
#   runtime: the shared libraries mediapipe and OpenCV load (libGL, GLib).
#   test:    runtime + Chromium, which the browser tests drive through Playwright, and
#            Firefox ESR, whose push service URL the Web Push tests point at a local one,
#            and nginx, the load balancer the scale-out tests put in front of two processes.
# Installs what is missing with apt-get (as root, or through sudo); --check only reports.
set -euo pipefail

profile="${1:-runtime}"
runtime=(libgl1 libglib2.0-0)
case "$profile" in
  runtime) wanted=("${runtime[@]}") ;;
  test) wanted=("${runtime[@]}" chromium firefox-esr fonts-dejavu-core nginx) ;;
  *) echo "usage: $0 runtime|test [--check]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "${2:-}" = "--check" ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "Hadir needs these Debian packages: ${missing[*]}" >&2
  echo "Install them as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
