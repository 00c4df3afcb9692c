#!/usr/bin/env bash
# Configures the module against Debian's nginx-dev (the same flags Debian
# builds its own libnginx-mod-* packages with), into an out-of-tree builddir.
# Usage: tools/configure.sh MODULE_DIR BUILD_DIR [EXTRA_CFLAGS]
set -euo pipefail

mod=$(cd "$1" && pwd)
mkdir -p "$2"
bld=$(cd "$2" && pwd)
extra=${3:-}
src=${NGINX_SRC:-/usr/share/nginx/src}

if [ ! -f "$src/conf_flags" ]; then
    echo "configure.sh: $src/conf_flags not found: install nginx-dev" >&2
    exit 1
fi

cd "$src"
. ./conf_flags
./configure \
    --with-cc-opt="$(dpkg-buildflags --get CFLAGS) -fPIC $(dpkg-buildflags --get CPPFLAGS) $extra" \
    --with-ld-opt="$(dpkg-buildflags --get LDFLAGS) -fPIC $extra" \
    "${NGX_CONF_FLAGS[@]}" \
    --add-dynamic-module="$mod" \
    --builddir="$bld" > "$bld/configure.log" 2>&1 || {
        tail -30 "$bld/configure.log" >&2
        exit 1
    }
