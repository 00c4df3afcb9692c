#!/usr/bin/perl

# Transactional verification (snap_verify): HMAC type 1 and RSA type 2,
# every failure code, every way a body can arrive, what the upstream gets.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex hmac_sha512);
use MIME::Base64 qw(encode_base64);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $other = $t->partner('Other', partner_id => 'OTHER-PARTNER');
my $key = $t->token_key('token.key');

my $N = '/api/v1.0/qr/qr-mpm-notify';

$t->start_upstream;
$t->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_client Other public_key=$other->{pem} secret_file=$other->{secret_file}
                partner_id=OTHER-PARTNER;
    snap_token_key $key;
    snap_replay_zone ids:1m;

    client_body_buffer_size 8k;
    client_max_body_size 1m;

    log_format snap '\$request_uri client=\$snap_client_id '
                    'partner=\$snap_partner_id ext=\$snap_external_id '
                    'svc=\$snap_service_code code=\$snap_response_code '
                    'reason=\$snap_reject_reason';

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_1%% http2;
        access_log %%DIR%%/snap.log snap;

        location = /token {
            snap_token;
        }

        location = $N {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /api/v1.0/debit/notify {
            snap_verify 56 signature=rsa;
            proxy_pass http://%%UPSTREAM%%;
        }

        location /api/v1.0/balance-inquiry {
            snap_verify balance-inquiry;
            proxy_pass http://%%UPSTREAM%%;
        }

        location /rw/ {
            rewrite ^/rw/(.*)\$ /app/\$1 break;
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /merchant/notify {
            snap_verify 52;
            snap_signed_path /v1.0/qr/qr-mpm-notify;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /tf {
            snap_verify 52;
            snap_replay ids;
            try_files /nonexistent /tf2;
        }

        location = /tf2 {
            internal;
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF

my $token = $t->get_token($p);
my $body = '{"originalReferenceNo":"T25050000799117","latestTransactionStatus":"00"}';

sub upstream_last {
    my @r = $t->upstream_requests;
    return $r[-1];
}

# a valid notification reaches the upstream byte for byte
my $r = $t->snap($p, path => $N, token => $token, body => $body,
    external_id => 'ext-valid-1');
is($r->{status}, 200, 'valid notification passes');
is($r->{json}{responseCode}, '2005200', 'the upstream answer is returned');
my $u = upstream_last();
is(sha256_hex($u->{body}), sha256_hex($body), 'upstream got identical body');
is($u->{line}, "POST $N HTTP/1.0", 'upstream request line');
is($u->{headers}{'x-external-id'}, 'ext-valid-1', 'headers passed on');
like($u->{headers}{authorization}, qr/^Bearer \Q$token\E$/, 'token passed on');

# pretty-printed body
my $pretty = "{\n  \"originalReferenceNo\" : \"T 1\",\n\t\"amount\": { \"value\": \"20.00\" }\n}\n";
$r = $t->snap($p, path => $N, token => $token, body => $pretty);
is($r->{status}, 200, 'pretty-printed body verifies (minified hash)');
is(upstream_last()->{body}, $pretty, 'upstream got the pretty body unchanged');

# escapes and spaces inside strings
my $tricky = '{"a":"x\\\\", "b" : "say \\" hi  ", "n": 1.50, "u":"\\u00e9\\/"}';
$r = $t->snap($p, path => $N, token => $token, body => $tricky);
is($r->{status}, 200, 'escapes, inner spaces and numbers hash as sent');

# a body larger than client_body_buffer_size lands in a temp file
my $pad = 'z' x 50;
my $big = '{"items":[' . join(',', map { "{\"id\":\"item-$_\",\"pad\":\"$pad\"}" } 1 .. 400) . ']}';
$r = $t->snap($p, path => $N, token => $token, body => $big);
is($r->{status}, 200, 'body in a temp file verifies');
is(sha256_hex(upstream_last()->{body}), sha256_hex($big),
    'upstream got the temp-file body identical');
like($t->read_file('error.log'), qr/buffered to a temporary file/,
    'the body really went to a temp file');

# chunked
my $hdr = $t->snap_headers($p, path => $N, token => $token, body => $big);
my $raw = SnapTest::raw_head('POST', $N,
    [ @$hdr, 'Transfer-Encoding' => 'chunked' ]) . "\r\n";
my $chunked = '';
for (my $i = 0; $i < length $big; $i += 3000) {
    my $c = substr $big, $i, 3000;
    $chunked .= sprintf("%x\r\n", length $c) . $c . "\r\n";
}
$chunked .= "0\r\n\r\n";
$r = SnapTest::parse_response($t->http($raw . $chunked));
is($r->{status}, 200, 'chunked body verifies');
is(sha256_hex(upstream_last()->{body}), sha256_hex($big),
    'upstream got the chunked body identical');

# slow client: the body in pieces with pauses
$hdr = $t->snap_headers($p, path => $N, token => $token, body => $body);
$raw = SnapTest::raw_head('POST', $N,
    [ @$hdr, 'Content-Length' => length $body ]) . "\r\n";
$r = SnapTest::parse_response($t->http($raw, pieces => [
    substr($body, 0, 10), substr($body, 10, 20), substr($body, 30)],
    sleep => 0.3));
is($r->{status}, 200, 'slow body in pieces verifies');
is(upstream_last()->{body}, $body, 'upstream got the slow body');

# HTTP/2
SKIP: {
    skip 'curl not found', 2 unless -x '/usr/bin/curl';
    $hdr = $t->snap_headers($p, path => $N, token => $token, body => $body);
    my $h2 = $t->h2(path => $N, headers => $hdr, body => $body);
    is("$h2->{version} $h2->{status}", '2 200', 'HTTP/2 body verifies');
    is(upstream_last()->{body}, $body, 'upstream got the HTTP/2 body');
}

# GET with a query string: the signed path includes it
my $q = '/api/v1.0/balance-inquiry?account=123&b=a%20b';
$r = $t->snap($p, method => 'GET', path => $q, token => $token);
is($r->{status}, 200, 'GET with query, empty body (SHA-256 of "") verifies');
is(upstream_last()->{line}, "GET $q HTTP/1.0", 'upstream got the query');
$r = $t->snap($p, method => 'GET', path => $q, token => $token,
    signed_path => '/api/v1.0/balance-inquiry');
is_snap_error($r, '4011100', 'Unauthorized. [Signature]',
    'signature without the query string is refused');

# rewrite after the check: the client's path is what was signed
$r = $t->snap($p, path => '/rw/x?y=1', token => $token, body => $body);
is($r->{status}, 200, 'a rewritten location verifies the original URI');
is(upstream_last()->{line}, 'POST /app/x?y=1 HTTP/1.0', 'upstream got the rewrite');

# snap_signed_path
$r = $t->snap($p, path => '/merchant/notify', token => $token, body => $body,
    signed_path => '/v1.0/qr/qr-mpm-notify');
is($r->{status}, 200, 'snap_signed_path: the configured path is signed');

# internal redirect: checked and recorded once
my $before = $t->upstream_count;
$r = $t->snap($p, path => '/tf', token => $token, body => $body,
    external_id => 'tf-once');
is($r->{status}, 200, 'try_files redirect to another snap location passes');
is($t->upstream_count, $before + 1, 'and reaches the upstream once');

# RSA type 2
$r = $t->snap($p, path => '/api/v1.0/debit/notify', body => $body);
is($r->{status}, 200, 'RSA (type 2) signature verifies');
$r = $t->snap($other, path => '/api/v1.0/debit/notify', body => $body,
    override => { 'X-PARTNER-ID' => 'QoinSnap' });
is_snap_error($r, '4015600', 'Unauthorized. [Signature]',
    'RSA signature by another key refused');

# failures; the upstream must see none of them
my $count = $t->upstream_count;
my @cases = (
    [ { 'X-TIMESTAMP' => undef }, '4005202', 'Invalid Mandatory Field X-TIMESTAMP' ],
    [ { 'X-SIGNATURE' => undef }, '4005202', 'Invalid Mandatory Field X-SIGNATURE' ],
    [ { 'X-PARTNER-ID' => undef }, '4005202', 'Invalid Mandatory Field X-PARTNER-ID' ],
    [ { 'X-EXTERNAL-ID' => undef }, '4005202', 'Invalid Mandatory Field X-EXTERNAL-ID' ],
    [ { 'CHANNEL-ID' => undef }, '4005202', 'Invalid Mandatory Field CHANNEL-ID' ],
    [ { 'X-TIMESTAMP' => '' }, '4005202', 'Invalid Mandatory Field X-TIMESTAMP' ],
    [ { Authorization => undef }, '4015203', 'Token Not Found (B2B)' ],
    [ { Authorization => "Basic $token" }, '4015203', 'Token Not Found (B2B)' ],
    [ { Authorization => 'Bearer ' }, '4015203', 'Token Not Found (B2B)' ],
    [ { Authorization => 'Bearer abc.def.ghi' }, '4015201', 'Invalid Token (B2B)' ],
    [ { 'X-TIMESTAMP' => '2023-07-06T14:12:50' }, '4005201', 'Invalid Field Format X-TIMESTAMP' ],
    [ { 'X-TIMESTAMP' => '9999-99-99T00:00:00Z' }, '4005201', 'Invalid Field Format X-TIMESTAMP' ],
    [ { 'X-TIMESTAMP' => timestamp(-400) }, '4015200', 'Unauthorized. [Timestamp]' ],
    [ { 'X-TIMESTAMP' => timestamp(400) }, '4015200', 'Unauthorized. [Timestamp]' ],
    [ { 'X-EXTERNAL-ID' => 'x' x 37 }, '4005201', 'Invalid Field Format X-EXTERNAL-ID' ],
    [ { 'X-PARTNER-ID' => 'Nobody' }, '4015200', 'Unauthorized. [Unknown client]' ],
    [ { 'X-PARTNER-ID' => 'OTHER-PARTNER' }, '4015201', 'Invalid Token (B2B)' ],
    [ { 'X-SIGNATURE' => 'not-base64' }, '4015200', 'Unauthorized. [Signature]' ],
    [ { 'X-SIGNATURE' => encode_base64('x' x 64, '') }, '4015200', 'Unauthorized. [Signature]' ],
);
for my $case (@cases) {
    my ($over, $code, $msg) = @$case;
    my %a = (path => $N, token => $token, body => $body, override => $over);
    # a changed timestamp is signed consistently, so only its value matters
    $a{timestamp} = delete $over->{'X-TIMESTAMP'}
        if defined $over->{'X-TIMESTAMP'} && length $over->{'X-TIMESTAMP'};
    my $r = $t->snap($p, %a);
    is_snap_error($r, $code, $msg, "$code $msg ("
        . join(',', map { "$_=" . ($over->{$_} // 'none') } sort keys %$over) . ')');
}

# signature mismatches after the body was read
$r = $t->snap($p, path => $N, token => $token, body => $body,
    secret => 'wrong-secret');
is_snap_error($r, '4015200', 'Unauthorized. [Signature]', 'wrong secret');

my $hdrs = $t->snap_headers($p, path => $N, token => $token, body => $body);
$r = $t->request(path => $N, headers => $hdrs, body => $body . ' ');
is($r->{status}, 200, 'trailing whitespace is outside the minified form');
$count++;
$r = $t->request(path => $N, headers => $hdrs,
    body => $body =~ s/T2505/T2506/r);
is_snap_error($r, '4015200', 'Unauthorized. [Signature]', 'tampered body');

$r = $t->snap($p, path => $N, token => $token, body => '{"a":1}',
    signed_path => '/other');
is_snap_error($r, '4015200', 'Unauthorized. [Signature]', 'other path signed');

$r = $t->snap($p, path => $N, token => $token, body => 'not json at all');
is_snap_error($r, '4005200', 'Bad Request', 'signed body that is not JSON');

$r = $t->snap($p, path => $N, token => $token, body => '{"a":1',);
is_snap_error($r, '4005200', 'Bad Request', 'truncated JSON');

$r = $t->snap($p, path => $N, token => $token, body => '{"a":1} trailing');
is_snap_error($r, '4005200', 'Bad Request', 'JSON followed by garbage');

$r = $t->snap($p, path => $N, token => $token, body => '{"a":1}{"b":2}');
is_snap_error($r, '4005200', 'Bad Request', 'two JSON values');

$r = $t->snap($p, path => $N, token => $token, body => $body,
    override => { 'X-CHANNEL-ID' => '95221', 'CHANNEL-ID' => undef });
is($r->{status}, 200, 'X-CHANNEL-ID accepted for CHANNEL-ID');
$count++;

$r = $t->snap($p, path => $N, token => $token, body => $body,
    override => { Authorization => "bEaReR $token" });
is($r->{status}, 200, 'Bearer scheme is case-insensitive');
$count++;

# duplicated security headers are refused, never "first one wins"
for my $name ('X-SIGNATURE', 'X-TIMESTAMP', 'X-EXTERNAL-ID', 'X-PARTNER-ID',
    'CHANNEL-ID')
{
    my $r = $t->snap($p, path => $N, token => $token, body => $body,
        extra => [ $name => 'dup' ]);
    is_snap_error($r, '4005201', "Invalid Field Format $name",
        "duplicate $name refused");
}
$r = $t->snap($p, path => $N, token => $token, body => $body,
    extra => [ 'X-CHANNEL-ID' => '1' ]);
is_snap_error($r, '4005201', 'Invalid Field Format X-CHANNEL-ID',
    'CHANNEL-ID and X-CHANNEL-ID together refused');
$r = $t->snap($p, path => $N, token => $token, body => $body,
    extra => [ Authorization => "Bearer $token" ]);
is_snap_error($r, '4000000', 'Bad Request',
    'duplicate Authorization: nginx refuses it before the location, '
    . 'answered as SNAP JSON with service 00');

is($t->upstream_count, $count, 'the upstream saw none of the rejected requests');

# keepalive after a rejection that read the body
$hdrs = $t->snap_headers($p, path => $N, token => $token, body => $body,
    secret => 'wrong');
$raw = SnapTest::raw_request('POST', $N, $hdrs, $body, keepalive => 1);
my $hdrs2 = $t->snap_headers($p, path => $N, token => $token, body => $body);
my $raw2 = SnapTest::raw_request('POST', $N, $hdrs2, $body);
my $reply = $t->http($raw . $raw2);
my @st = $reply =~ m{HTTP/1\.1 (\d{3}) }g;
is_deeply(\@st, [401, 200], 'keepalive connection works after a rejection');

# what the logs say, and do not say
# nginx itself logs both values of a duplicated Authorization header at
# info level ("client sent duplicate header line"); README warns of it
my $log = join "\n", grep { !/client sent duplicate header line/ }
    split /\n/, $t->read_file('error.log');
like($log, qr/signature mismatch for client "QoinSnap", string to sign "POST:\Q$N\E:<token, \d+ bytes>:[0-9a-f]{64}:/,
    'mismatch logs the string to sign with the token masked');
unlike($log, qr/\Q$token\E/, 'the token is never logged');
unlike($log, qr/\Q$p->{secret}\E/, 'the secret is never logged');
my $sig = { @$hdrs }->{'X-SIGNATURE'};
unlike($log, qr/\Q$sig\E/, 'the received signature is never logged');

my $alog = $t->read_file('snap.log');
like($alog, qr{^\Q$N\E client=QoinSnap partner=QoinSnap ext=ext-valid-1 svc=52 code=- reason=-$}m,
    'variables for a request passed on');
like($alog, qr{^\Q$N\E client=QoinSnap partner=QoinSnap ext=\S+ svc=52 code=4015200 reason=signature$}m,
    'variables for a rejected request');
like($alog, qr{ code=4015201 reason=token_partner$}m, 'token_partner reason');

$t->done;
