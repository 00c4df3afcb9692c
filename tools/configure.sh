#!/usr/bin/env bash
# Configures the module out of tree, into BUILD_DIR.
#   Debian's nginx-dev (NGINX_SRC has conf_flags): the flags Debian builds
#   its own libnginx-mod-* packages with.
#   An nginx.org source tree or release tarball (anything else): a copy of
#   it in BUILD_DIR/nginx-src, configured --with-compat as nginx.org's packages
#   are, so the module loads into their nginx of the same version; the
#   tree itself is never written.
# Usage: tools/configure.sh MODULE_DIR BUILD_DIR [EXTRA_CFLAGS]
set -euo pipefail

mod=$(cd "$1" && pwd)
mkdir -p "$2"
bld=$(cd "$2" && pwd)
extra=${3:-}
src=${NGINX_SRC:-/usr/share/nginx/src}

if [ -f "$src/conf_flags" ]; then
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
    exit 0
fi

tree="$bld/nginx-src"
rm -rf "$tree"
mkdir -p "$tree"

if [ -f "$src" ]; then
    tar -xzf "$src" -C "$tree" --strip-components=1
elif [ -d "$src" ]; then
    cp -a "$src/." "$tree/"
else
    echo "configure.sh: $src is neither nginx-dev, a source tree nor a" \
         "tarball" >&2
    exit 1
fi

cd "$tree"
# a release tarball has ./configure, the git tree auto/configure
cfg=./configure
[ -x "$cfg" ] || cfg=auto/configure

"$cfg" --with-compat --with-http_ssl_module --with-http_v2_module \
    --with-http_realip_module --with-http_auth_request_module \
    ${extra:+--with-cc-opt="$extra" --with-ld-opt="$extra"} \
    --add-dynamic-module="$mod" \
    --builddir="$bld" > "$bld/configure.log" 2>&1 || {
        tail -30 "$bld/configure.log" >&2
        exit 1
    }
