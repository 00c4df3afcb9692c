#!/usr/bin/perl

# Configurations operators write that once let a request past the checks:
# satisfy any, underscores_in_headers, snap_signed_path with $uri, an
# error_page back into snap_verify, rewrite ... last.  Each must still
# verify, refuse, or be refused by nginx -t; the upstream sees nothing else.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $b = $t->partner('Bee', partner_id => 'BEE');
my $key = $t->token_key('token.key');
$t->write_file('htpasswd', "user:{PLAIN}pass\n");
my $down = SnapTest::free_port();

$t->start_upstream;
$t->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_client Bee public_key=$b->{pem} secret_file=$b->{secret_file}
                partner_id=BEE;
    snap_token_key $key;
    snap_replay_zone ids:1m;
    client_max_body_size 1k;

    server {
        listen 127.0.0.1:%%PORT%%;
        underscores_in_headers on;

        location = /token { snap_token; }

        location = /any-allow {
            satisfy any;
            allow 127.0.0.1;
            deny all;
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /any-basic {
            satisfy any;
            auth_basic "snap";
            auth_basic_user_file %%DIR%%/htpasswd;
            deny all;
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /any-auth-request {
            satisfy any;
            auth_request /grant;
            deny all;
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /grant { internal; return 204; }

        location /inherit/ {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;

            location /inherit/any {
                satisfy any;
                allow all;
                proxy_pass http://%%UPSTREAM%%;
            }
        }

        location = /u {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }

        location /merchant/ {
            snap_verify 52;
            snap_signed_path /v1.0\$uri;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /ep {
            snap_verify 52 signature=rsa;
            error_page 400 413 /ep-error;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /ep-error {
            snap_verify 52 signature=rsa;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /ep-plain {
            snap_verify 52 signature=rsa;
            error_page 413 /plain-error;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /plain-error {
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /rw-last {
            snap_verify 52;
            snap_replay ids;
            rewrite ^ /legacy/cb.php last;
        }

        location /legacy/ {
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /release {
            snap_verify 52;
            snap_replay ids release_on_failure;
            error_page 502 = /release-fallback;
            proxy_pass http://127.0.0.1:$down;
        }

        location = /release-fallback {
            internal;
            return 503;
        }
    }
EOF

my $token = $t->get_token($p);
my $tb = $t->get_token($b);
my $body = '{"originalReferenceNo":"T25050000799117","latestTransactionStatus":"00"}';

sub last_up { my @r = $t->upstream_requests; return $r[-1] }

# An unsigned POST with no SNAP header at all
sub unsigned {
    my ($path, @h) = @_;
    return $t->request(path => $path, body => $body,
        headers => [ 'Content-Type' => 'application/json', @h ]);
}

##############################################################################
# 1. satisfy any: a grant by another access module never skips the checks

my $before = $t->upstream_count;
is_snap_error(unsigned('/any-allow'), '4005202',
    'Invalid Mandatory Field X-TIMESTAMP',
    'satisfy any + allow: an unsigned request is refused');
is_snap_error(unsigned('/any-basic',
        Authorization => 'Basic ' . encode_base64('user:pass', '')),
    '4005202', 'Invalid Mandatory Field X-TIMESTAMP',
    'satisfy any + a valid auth_basic login: refused');
is_snap_error(unsigned('/any-auth-request'), '4005202',
    'Invalid Mandatory Field X-TIMESTAMP',
    'satisfy any + auth_request answering 204: refused');
is_snap_error(unsigned('/inherit/any'), '4005202',
    'Invalid Mandatory Field X-TIMESTAMP',
    'satisfy any in a nested location that inherits snap_verify: refused');
is($t->upstream_count, $before, 'the upstream saw none of them');

my $r = $t->snap($p, path => '/any-allow', token => $token, body => $body);
is($r->{status}, 200, 'satisfy any + allow: a signed request passes');
is(last_up()->{body}, $body, 'and reaches the upstream');

##############################################################################
# 2. underscores_in_headers on: X_PARTNER_ID is X-PARTNER-ID to a backend

for my $case (
    [ 'X_PARTNER_ID', 'BEE' ],
    [ 'x_partner_id', 'BEE' ],
    [ 'X-Partner_Id', 'BEE' ],
    [ 'X_TIMESTAMP', timestamp() ],
    [ 'X_SIGNATURE', 'AAAA' ],
    [ 'X_EXTERNAL_ID', '12345' ],
    [ 'CHANNEL_ID', '1' ],
    [ 'X_CHANNEL_ID', '1' ],
) {
    my ($name, $value) = @$case;
    $r = $t->snap($p, path => '/u', token => $token, body => $body,
        extra => [ $name => $value ]);
    is_snap_error($r, '4005201', "Invalid Field Format $name",
        "$name beside the dashed header is a duplicate");
}
is($t->upstream_count, $before + 1, 'none of them reached the upstream');

# the underscore spelling alone is that header, replay included
my $id = external_id();
$r = $t->snap($p, path => '/u', token => $token, body => $body,
    override => { 'X-EXTERNAL-ID' => undef }, extra => [ X_EXTERNAL_ID => $id ]);
is($r->{status}, 200, 'X_EXTERNAL_ID alone is the X-EXTERNAL-ID');
$r = $t->snap($p, path => '/u', token => $token, body => $body,
    external_id => $id);
is_snap_error($r, '4095200', 'Conflict',
    'and the same id in the dashed spelling is a replay');

##############################################################################
# 3. snap_signed_path /v1.0$uri: the query and the path bytes are signed

my $P = '/merchant/notify';
$r = $t->snap($p, path => $P, token => $token, body => $body,
    signed_path => "/v1.0$P");
is($r->{status}, 200, 'snap_signed_path /v1.0$uri verifies');

$r = $t->snap($p, path => "$P?amount=1.00", token => $token, body => $body,
    signed_path => "/v1.0$P?amount=1.00");
is($r->{status}, 200, 'the query string is part of the signed path');
is(last_up()->{line}, "POST $P?amount=1.00 HTTP/1.0",
    'and the upstream got that query');

# a captured request replayed with a query appended
my $hdr = $t->snap_headers($p, path => $P, token => $token, body => $body,
    signed_path => "/v1.0$P");
$before = $t->upstream_count;
$r = $t->request(path => "$P?amount=99999999.00", headers => $hdr,
    body => $body);
is_snap_error($r, '4015200', 'Unauthorized. [Signature]',
    'a query appended to a signed request is refused');

for my $respelled ('/merchant/./notify', '/merchant/%6eotify',
    '/merchant//notify', '/merchant/x/../notify')
{
    my $h = $t->snap_headers($p, path => $respelled, token => $token,
        body => $body, signed_path => "/v1.0$P");
    $r = $t->request(path => $respelled, headers => $h, body => $body);
    is_snap_error($r, '4015200', 'Unauthorized. [Signature]',
        "a path nginx normalises ($respelled) is refused");
}
is($t->upstream_count, $before, 'the upstream saw none of them');
like($t->read_file('error.log'), qr/request path is not in normal form/,
    'the log says why');

for my $v ('/v1.0$request_uri', '/v1.0$uri?$args', '/v1.0$uri$is_args$args',
    '/v1.0${uri}?a=1', '/v1.0$uri$arg_amount', '/x$query_string')
{
    my $c = $v;
    $c =~ s/\$/\\\$/g;
    my $s = SnapTest->new;
    $s->config_fails(<<"EOF", qr/"snap_signed_path" takes a path without a query.*nginx\.conf:\d+/, "snap_signed_path $v");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    server { listen 127.0.0.1:%%PORT%%; location / { snap_verify 52; snap_signed_path "$c"; } }
EOF
}

##############################################################################
# 4. an error_page of a failed body read that leads back into snap_verify

# a chunked body over client_max_body_size (413) and a bad chunk (400):
# the RSA location needs no secret, only a public partner id
sub chunked_attack {
    my ($path, $chunks) = @_;
    my $h = $t->snap_headers($p, path => $path, body => $body);
    my $raw = SnapTest::raw_head('POST', $path,
        [ @$h, 'Transfer-Encoding' => 'chunked' ]) . "\r\n" . $chunks;
    return SnapTest::parse_response($t->http($raw, timeout => 10));
}

my $over = 'a' x 2000;
$before = $t->upstream_count;
my $t0 = time;
$r = chunked_attack('/ep', sprintf("%x\r\n%s\r\n0\r\n\r\n", length $over, $over));
is_snap_error($r, '4005200', 'Bad Request',
    'a 413 sent by error_page into snap_verify is answered');
cmp_ok(time - $t0, '<', 9, 'and not left hanging');
$r = chunked_attack('/ep', "2\r\n{}XX0\r\n\r\n");
is_snap_error($r, '4005200', 'Bad Request',
    'a bad chunk sent by error_page into snap_verify is answered');
$r = chunked_attack('/ep-plain',
    sprintf("%x\r\n%s\r\n0\r\n\r\n", length $over, $over));
is_snap_error($r, '4005200', 'Bad Request',
    'an error_page out of snap_verify before the verdict is answered too');
is($t->upstream_count, $before, 'the upstream saw none of them');

# many at once: none parks a connection, a legitimate request is answered
my @kids;
for (1 .. 20) {
    my $pid = fork // die;
    if ($pid == 0) {
        chunked_attack('/ep', sprintf("%x\r\n%s\r\n0\r\n\r\n", length $over,
            $over));
        exit 0;
    }
    push @kids, $pid;
}
waitpid $_, 0 for @kids;
$r = $t->snap($p, path => '/ep', body => $body);
is($r->{status}, 200, 'a signed request after the storm passes');
my $open = () = `ss -Htn state established '( sport = :@{[ $t->port(0) ]} )'`
    =~ /\n/g;
is($open, 0, 'no connection is left open');

##############################################################################
# 5. rewrite ... last out of a snap_verify location

$before = $t->upstream_count;
is_snap_error(unsigned('/rw-last'), '4005202',
    'Invalid Mandatory Field X-TIMESTAMP',
    'rewrite ... last: an unsigned request is refused');
$r = $t->snap($p, path => '/rw-last', token => $token, body => $body,
    secret => 'wrong');
is_snap_error($r, '4015200', 'Unauthorized. [Signature]',
    'a forged signature is refused');
is($t->upstream_count, $before, 'the upstream saw neither');

$id = external_id();
$r = $t->snap($p, path => '/rw-last', token => $token, body => $body,
    external_id => $id);
is($r->{status}, 200, 'a signed request is verified and rewritten');
is(last_up()->{line}, 'POST /legacy/cb.php HTTP/1.0',
    'the upstream got the rewritten path');
$r = $t->snap($p, path => '/rw-last', token => $token, body => $body,
    external_id => $id);
is_snap_error($r, '4095200', 'Conflict',
    'the snap_replay of the location it entered applies');

##############################################################################
# release_on_failure works from what was recorded, not from the location
# an error_page ended in

$id = external_id();
$r = $t->snap($p, path => '/release', token => $token, body => $body,
    external_id => $id);
is($r->{status}, 503, 'the upstream is down, the fallback answers 503');
# the release happens in the log phase, which may end after the client has
# read the answer: wait for its line
for (1 .. 100) {
    last if $t->read_file('error.log') =~ /"\Q$id\E" released after status/;
    select undef, undef, undef, 0.05;
}
like($t->read_file('error.log'), qr/"\Q$id\E" released after status 503/,
    'the id is released from the zone it was recorded in');
$r = $t->snap($p, path => '/release', token => $token, body => $body,
    external_id => $id);
is($r->{status}, 503,
    'the id was released after the redirect: the retry is no replay');

$t->done;
