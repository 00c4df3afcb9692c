#!/usr/bin/perl

# Errors nginx makes itself in snap locations become SNAP JSON; an
# upstream's own answers pass through untouched; operators override codes.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');
my $down = SnapTest::free_port();

my $own400 = '{"responseCode":"4005201","responseMessage":"Invalid Field Format amount.value","detail":"from the app"}';

$t->start_upstream(routes => {
    '/own400' => [ 400, $own400, 0 ],
    '/own500' => [ 500, '<html>app error</html>', 0 ],
    '/slow' => [ 200, '{}', 3 ],
});
$t->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    limit_req_zone \$binary_remote_addr zone=one:1m rate=1r/m;

    server {
        listen 127.0.0.1:%%PORT%%;
        client_max_body_size 1k;

        location = /token { snap_token; }

        location = /token-provider {
            snap_token;
            snap_error signature 4007302 "Invalid Signature";
            snap_error missing_field 400xx02 "Field required: {field}";
        }

        location = /big {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /limited {
            snap_verify 52;
            limit_req zone=one;
            limit_req_status 429;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /down {
            snap_verify 56;
            proxy_pass http://127.0.0.1:$down;
        }

        location = /slow {
            snap_verify 51;
            proxy_read_timeout 1s;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /own400 {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /own500 {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /denied {
            snap_verify 52;
            deny all;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /override {
            snap_verify 52;
            snap_error signature 401xx00 "Unauthorized. Invalid Signature";
            snap_error replay 4095200 "Cannot use same X-EXTERNAL-ID in same day";
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /custom-page {
            snap_verify 52;
            error_page 502 = /fallback;
            proxy_pass http://127.0.0.1:$down;
        }

        location = /fallback {
            return 503 "operator page\\n";
        }

        location = /plain {
            proxy_pass http://127.0.0.1:$down;
        }

        location = /token-redirect {
            snap_token;
            error_page 413 = /after-token;
        }

        location = /after-token {
            internal;
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF

my $token = $t->get_token($p);
my $body = '{"a":1}';

# 413: Content-Length over client_max_body_size
my $big = '{"pad":"' . ('x' x 2000) . '"}';
my $r = $t->snap($p, path => '/big', token => $token, body => $big);
is_snap_error($r, '4005200', 'Bad Request', '413 (Content-Length) as SNAP JSON');
like($t->read_file('error.log'), qr/client intended to send too large body/,
    'nginx logged the 413');

# 413: chunked, found while the module reads the body
my $hdrs = $t->snap_headers($p, path => '/big', token => $token, body => $big);
my $raw = SnapTest::raw_head('POST', '/big',
    [ @$hdrs, 'Transfer-Encoding' => 'chunked' ])
    . "\r\n" . sprintf("%x\r\n", length $big) . "$big\r\n0\r\n\r\n";
$r = SnapTest::parse_response($t->http($raw));
is_snap_error($r, '4005200', 'Bad Request', '413 (chunked) as SNAP JSON');

# 429 from limit_req
$r = $t->snap($p, path => '/limited', token => $token, body => $body);
is($r->{status}, 200, 'first request within the rate');
$r = $t->snap($p, path => '/limited', token => $token, body => $body);
is_snap_error($r, '4295200', 'Too Many Requests', 'limit_req 429 as SNAP JSON');

# upstream down, upstream timing out
$r = $t->snap($p, path => '/down', token => $token, body => $body);
is_snap_error($r, '5005602', 'External Server Error', '502 as 5005602');
$r = $t->snap($p, path => '/slow', token => $token, body => $body);
is_snap_error($r, '5045100', 'Timeout', '504 as 5045100');
$r = $t->request(method => 'HEAD', path => '/down',
    headers => $t->snap_headers($p, method => 'HEAD', path => '/down',
        token => $token));
is($r->{status}, 500, 'HEAD: status of the SNAP code');
is($r->{body}, '', 'HEAD: no body');

# deny runs before the module: no body is read, the answer is still SNAP
$r = $t->snap($p, path => '/denied', token => $token, body => $body);
is_snap_error($r, '4015200', 'Unauthorized. [Connection not allowed]',
    'deny as SNAP JSON');

# the upstream's own answers are untouched
$r = $t->snap($p, path => '/own400', token => $token, body => $body);
is($r->{status}, 400, "upstream's 400 status kept");
is($r->{body}, $own400, "upstream's 400 JSON body passes through unchanged");
$r = $t->snap($p, path => '/own500', token => $token, body => $body);
is($r->{status}, 500, "upstream's 500 kept");
is($r->{body}, '<html>app error</html>', "upstream's 500 body unchanged");

# operator overrides
$r = $t->request(path => '/token-provider',
    headers => $t->token_headers($p, signature => 'QUJD'),
    body => '{"grantType":"client_credentials"}');
is_snap_error($r, '4007302', 'Invalid Signature',
    "seed 001's code for a bad token-call signature");
my %th = @{$t->token_headers($p)};
delete $th{'X-CLIENT-KEY'};
$r = $t->request(path => '/token-provider', headers => [%th],
    body => '{"grantType":"client_credentials"}');
is_snap_error($r, '4007302', 'Field required: X-CLIENT-KEY',
    'override with {field} and xx');
$r = $t->snap($p, path => '/override', token => $token, body => $body,
    secret => 'wrong');
is_snap_error($r, '4015200', 'Unauthorized. Invalid Signature',
    'override per location');
$r = $t->snap($p, path => '/big', token => $token, body => $body,
    secret => 'wrong');
is_snap_error($r, '4015200', 'Unauthorized. [Signature]',
    'other locations keep the standard answer');
like($t->read_file('access.log'), qr/./, 'access log written');

# an operator's error_page wins
$r = $t->snap($p, path => '/custom-page', token => $token, body => $body);
is($r->{status}, 503, "error_page: the operator's status");
is($r->{body}, "operator page\n", "error_page: the operator's page");

# a redirect from the token handler into a snap_verify location never
# passes unverified: the verdict there is the access handler's alone
my $before = $t->upstream_count;
$raw = SnapTest::raw_head('POST', '/token-redirect',
    [ @{$t->token_headers($p)}, 'Transfer-Encoding' => 'chunked' ])
    . "\r\n" . sprintf("%x\r\n", length $big) . "$big\r\n0\r\n\r\n";
$r = SnapTest::parse_response($t->http($raw));
is_snap_error($r, '5005200', 'General Error',
    'redirected from snap_token into snap_verify: refused, fail closed');
is($t->upstream_count, $before, 'and the upstream never saw it');

# outside snap locations nginx answers as always
$r = $t->request(method => 'GET', path => '/plain');
is($r->{status}, 502, 'a plain location keeps nginx errors');
like($r->{body}, qr/<html>/, 'with the HTML page');

# configuration errors
for my $case (
    [ 'snap_error nosuch 4005200 "x";', qr/unknown rejection reason "nosuch"/ ],
    [ 'snap_error signature 40052 "x";', qr/invalid SNAP code "40052"/ ],
    [ 'snap_error signature 9995200 "x";', qr/invalid SNAP code "9995200"/ ],
    [ 'snap_error signature 400x200 "x";', qr/invalid SNAP code "400x200"/ ],
    [ 'snap_error signature 4005200 "a\\"b";', qr/may not hold quotes/ ],
    [ 'snap_error signature 4005200 a; snap_error signature 4005201 b;',
      qr/duplicate snap_error for "signature"/ ],
) {
    $t->config_fails(<<"EOF", $case->[1], $case->[0]);
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    server { listen 127.0.0.1:%%PORT%%; location / { snap_verify 52; $case->[0] } }
EOF
}

$t->done;
