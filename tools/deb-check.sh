#!/usr/bin/env bash
# CI: the .deb as an operator meets it, on this machine's nginx.  lintian
# finds no error; dpkg -i enables the module (its link in modules-enabled)
# and nginx -t loads it; remove disables it as Debian's own modules are
# (the link kept as .removed, the conffiles kept); purge leaves nothing.
set -euo pipefail
deb=$1
pkg=libnginx-mod-http-snap
link=/etc/nginx/modules-enabled/50-mod-http-snap.conf
so=/usr/lib/nginx/modules/ngx_http_snap_module.so
fail() { echo "deb-check: $*" >&2; exit 1; }

echo "== lintian"
lintian --fail-on error --no-tag-display-limit "$deb"

echo "== contents"
dpkg-deb -f "$deb" Package Version Architecture Depends
dpkg-deb -f "$deb" Depends | grep -q "nginx-abi-" \
    || fail "no dependency on nginx's ABI"
dpkg-deb -c "$deb" | awk '{print $6}' | sort > /tmp/deb-files
for f in ./usr/lib/nginx/modules/ngx_http_snap_module.so \
         ./usr/share/nginx/modules-available/mod-http-snap.conf \
         ./etc/nginx/snap/snap-http.conf \
         ./etc/nginx/sites-available/snap-gateway \
         ./usr/share/doc/$pkg/examples/conf.example \
         ./usr/bin/snap-check \
         ./usr/share/man/man1/snap-check.1.gz \
         ./usr/share/$pkg/grafana-snap.json \
         ./usr/share/$pkg/snap-alerts.yml \
         ./usr/share/$pkg/snap-alerts.test.yml \
         ./etc/nginx/snap/keys/ \
         ./etc/nginx/snap/tls/; do
    grep -qx "$f" /tmp/deb-files || fail "$f is not in the package"
done

echo "== install"
dpkg -i "$deb"
[ -L "$link" ] || fail "$link was not made"
[ "$(readlink -f "$link")" = /usr/share/nginx/modules-available/mod-http-snap.conf ] \
    || fail "$link points elsewhere"
grep -qx "load_module modules/ngx_http_snap_module.so;" "$link"
for dir in /etc/nginx/snap /etc/nginx/snap/keys /etc/nginx/snap/tls; do
    [ "$(stat -c %a "$dir")" = 750 ] || fail "$dir is not 0750"
    [ "$(stat -c %U "$dir")" = root ] || fail "$dir is not root's"
done
# what the README tells a package user to run
command -v snap-check >/dev/null || fail "snap-check is not on the PATH"
snap-check --help | grep -q "TOKEN_ONLY=1" || fail "snap-check --help"
rc=0; snap-check >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "snap-check without arguments: exit $rc, not 2"
man -w snap-check >/dev/null 2>&1 || [ -f /usr/share/man/man1/snap-check.1.gz ] \
    || fail "no man page for snap-check"
promtool check rules /usr/share/$pkg/snap-alerts.yml >/dev/null \
    || fail "the shipped alert rules do not parse"
nginx -t
nginx -T 2>/dev/null | grep -q "load_module modules/ngx_http_snap_module.so" \
    || fail "nginx -T does not show the module"
# a directive of the module is known only if nginx loaded it
conf=$(mktemp -d)
cat > "$conf/nginx.conf" <<CONF
include /etc/nginx/modules-enabled/*.conf;
pid $conf/nginx.pid;
error_log $conf/error.log;
events {}
http { snap_replay_zone ids:1m; snap_metrics_zone m:1m; }
CONF
nginx -t -c "$conf/nginx.conf" || fail "the module did not load"
rm -rf "$conf"

echo "== remove"
dpkg -r "$pkg"
[ ! -e "$so" ] || fail "$so left after remove"
[ ! -e "$link" ] || fail "$link left after remove"
[ -f /etc/nginx/sites-available/snap-gateway ] \
    || fail "remove must keep the conffiles"
nginx -t

echo "== purge"
dpkg -P "$pkg"
left=""
while read -r f; do
    f=${f#.}
    [ -z "$f" ] || [ "$f" = / ] && continue
    [ -d "$f" ] && continue
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done < /tmp/deb-files
for f in "$link" "$link.removed" /etc/nginx/snap; do
    [ -e "$f" ] || [ -L "$f" ] && left="$left $f"
done
[ -z "$left" ] || fail "left behind after purge:$left"
dpkg -s "$pkg" >/dev/null 2>&1 && fail "$pkg still known to dpkg"
nginx -t
echo "deb-check: lintian clean of errors; install, load, remove, purge: ok"
