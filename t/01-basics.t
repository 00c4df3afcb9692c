#!/usr/bin/perl

# The module loads, a protected location answers SNAP JSON errors, the
# connection survives them, and bad configuration fails nginx -t clearly.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');

my $http = <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;

    server {
        listen 127.0.0.1:%%PORT%%;

        location = /api/v1.0/qr/qr-mpm-notify {
            snap_verify qr-mpm-notify;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /plain {
            return 200 "plain\\n";
        }
    }
EOF

my ($ok, $out) = $t->test_config($http);
ok($ok, 'nginx -t accepts the module and its directives') or diag($out);

$t->start_upstream;
$t->run($http);

my $r = $t->request(path => '/api/v1.0/qr/qr-mpm-notify',
    body => '{"a":1}');
is_snap_error($r, '4005202', 'Invalid Mandatory Field X-TIMESTAMP',
    'no SNAP headers: 4005202 for X-TIMESTAMP');
is($r->{body},
    '{"responseCode":"4005202","responseMessage":"Invalid Mandatory Field X-TIMESTAMP"}',
    'exact JSON body');
is($r->{headers}{'content-length'}, length $r->{body}, 'content length');

$r = $t->request(method => 'HEAD', path => '/api/v1.0/qr/qr-mpm-notify');
is($r->{status}, 400, 'HEAD gets the status');
is($r->{body}, '', 'HEAD gets no body');
is($r->{headers}{'content-type'}, 'application/json', 'HEAD content type');

is($t->upstream_count, 0, 'the upstream was never reached');

# Keepalive: a rejected request whose body was never read, then a second
# request on the same connection.
my $body = '{"padding":"' . ('x' x 2000) . '"}';
my $raw = "POST /api/v1.0/qr/qr-mpm-notify HTTP/1.1\r\nHost: a\r\n"
    . "Content-Length: " . length($body) . "\r\n\r\n" . $body
    . "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
my $reply = $t->http($raw);
my @statuses = $reply =~ m{HTTP/1\.1 (\d{3}) }g;
is_deeply(\@statuses, [400, 200], 'keepalive works after a rejection')
    or diag($reply);
like($reply, qr/plain\n$/, 'second response intact');

# The body arrives after the rejection was sent.
$reply = $t->http("POST /api/v1.0/qr/qr-mpm-notify HTTP/1.1\r\nHost: a\r\n"
    . "Content-Length: " . length($body) . "\r\n\r\n",
    body => $body
        . "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
@statuses = $reply =~ m{HTTP/1\.1 (\d{3}) }g;
is_deeply(\@statuses, [400, 200],
    'late body is discarded, the next request served') or diag($reply);

$t->stop;

# Configuration errors name the file and line.
my $t2 = SnapTest->new;
for my $case (
    [ 'snap_verify no-such-service;',
      qr/unknown SNAP service "no-such-service".* in \S+nginx\.conf:\d+/ ],
    [ 'snap_verify 52 signature=md5;',
      qr/invalid parameter "signature=md5".* in \S+nginx\.conf:\d+/ ],
    [ 'snap_verify 52; snap_verify 52;',
      qr/"snap_verify" directive is duplicate in \S+nginx\.conf:\d+/ ],
    [ 'snap_log_level loud;',
      qr/invalid value "loud" in "snap_log_level", expected info, notice, warn or error .* in \S+nginx\.conf:\d+/ ],
    [ 'snap_token; snap_verify 52;',
      qr/cannot be mixed with "snap_token" in one location in \S+nginx\.conf:\d+/ ],
    [ 'snap_replay nozone;',
      qr/"snap_replay" names the zone "nozone", which no "snap_replay_zone" declares, in \S+nginx.conf:\d+/ ],
) {
    $t2->config_fails(<<"EOF", $case->[1], $case->[0]);
    snap_client QoinSnap public_key=$p->{pem};
    snap_token_key $key;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / { $case->[0] }
    }
EOF
}

# a partner without secret_file, and an HMAC location it can never pass
my $hmac_only = <<"EOF";
    snap_client QoinSnap public_key=$p->{pem};
    snap_token_key $key;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /hmac { snap_verify 52; }
    }
EOF
$t2->config_fails($hmac_only,
    qr/snap_client "QoinSnap" has no secret_file, and the HMAC "snap_verify" in \S+nginx\.conf:\d+ would refuse all its requests: give it secret_file=/,
    'a partner without a secret in front of HMAC locations only');
($ok, $out) = $t2->test_config($hmac_only
    =~ s/(location \/hmac)/location \/rsa { snap_verify 52 signature=rsa; }\n        $1/r);
ok($ok, 'beside an RSA location, it may be an RSA-only partner');
like($out, qr/\[warn\].*snap_client "QoinSnap" has no secret_file: the HMAC "snap_verify" locations \(\S+nginx\.conf:\d+\) will refuse all its requests/,
    'with a warning');

# Debian's stock error_log level (error) shows why a partner is refused
my $t3 = SnapTest->new;
my $d3 = $t3->dir;
$t3->start_upstream;
$t3->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    error_log $d3/stock.log error;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /notify {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /quiet {
            snap_verify 52;
            snap_log_level info;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
my $tok = $t3->get_token($p);
$r = $t3->snap($p, path => '/notify', token => $tok, body => '{}',
    secret => 'wrong');
is($r->{status}, 401, 'a forged notification');
my $stock = $t3->read_file('stock.log');
like($stock, qr/\[error\].*snap: signature mismatch for client "QoinSnap"/,
    'the default snap_log_level is error: the mismatch is in a stock log');
like($stock, qr/\[error\].*snap: request rejected with 4015200, signature/,
    'and the rejection');
$r = $t3->snap($p, path => '/quiet', token => $tok, body => '{}',
    secret => 'wrong');
is($r->{status}, 401, 'the same with snap_log_level info');
unlike($t3->read_file('stock.log'), qr/"POST \/quiet/,
    'is not in a log at error');
$t3->stop;
$t3->check_log;

$t->done;
