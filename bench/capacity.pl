#!/usr/bin/perl

# How many X-EXTERNAL-IDs a snap_replay_zone of SIZE holds: fills a zone
# with 36-character ids through real signed requests until nginx answers
# 5005200.  Usage: SNAP_MODULE=$PWD/build/ngx_http_snap_module.so \
#   perl bench/capacity.pl [SIZE]   (default 1m)

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use SnapTest;

my $size = shift // '1m';
my $t = SnapTest->new(workers => 1);
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');
$t->allow_log(qr/is full/);
$t->run(<<"CONF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    snap_replay_zone ids:$size;
    access_log off;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /n {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://127.0.0.1:%%PORT_1%%;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        return 204;
    }
CONF

my $tok = $t->get_token($p);
my $n = 0;
while ($n < 10_000_000) {
    my $id = sprintf '%036d', $n + 1;
    my $r = $t->snap($p, path => '/n', token => $tok, body => '{}',
        external_id => $id);
    last if $r->{status} != 204;
    $n++;
}
printf "snap_replay_zone %s holds %d ids of 36 characters (%.0f per MB)\n",
    $size, $n, $n / (SnapTest::parse_size($size) / 1048576);
$t->stop;
