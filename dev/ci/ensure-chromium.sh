#!/bin/sh
# Installs Debian's chromium for test/node/docs-render.test.ts when it is missing (that test skips, loudly, without
# it). Idempotent and quiet: a no-op when /usr/bin/chromium exists. Never `npx playwright install`: no internet here.
set -eu

[ -x /usr/bin/chromium ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: /usr/bin/chromium still missing after apt-get" >&2; exit 1; }
echo "ensure-chromium: installed $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
