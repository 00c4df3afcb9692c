#!/usr/bin/env bash
# `make run`: demo keys on first run, then conf.example in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."

module=$1
demo=$PWD/demo
mkdir -p "$demo/tmp"

if [ ! -f "$demo/partner.key" ]; then
    echo "generating demo keys in $demo"
    openssl genrsa -out "$demo/partner.key" 2048 2>/dev/null
    openssl rsa -in "$demo/partner.key" -pubout \
        -out "$demo/partner.pub.pem" 2>/dev/null
    openssl rand -hex 32 > "$demo/partner.secret"
    openssl rand -hex 32 > "$demo/token.key"
    chmod 600 "$demo"/*.key "$demo/partner.secret"
fi

sed -e "s|__MODULE__|$module|g" -e "s|__DEMO__|$demo|g" conf.example \
    > "$demo/nginx.conf"

user=""
if [ "$(id -u)" = 0 ]; then
    user="user root;"
fi

/usr/sbin/nginx -t -q -p "$demo/" -c "$demo/nginx.conf" -g "$user"

cat <<MSG
nginx with ngx_http_snap_module on http://127.0.0.1:8080 (Ctrl-C stops it)
  and on http://127.0.0.1:8082 for the app's calls nginx signs (snap_sign)
  config:  $demo/nginx.conf  (from conf.example)
  logs:    $demo/error.log, $demo/access.log
  partner: QoinSnap, private key $demo/partner.key,
           secret $demo/partner.secret
In another terminal, run the whole SNAP flow against it:  make demo
MSG

exec /usr/sbin/nginx -p "$demo/" -c "$demo/nginx.conf" \
    -g "daemon off; $user"
