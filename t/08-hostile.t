#!/usr/bin/perl

# A corpus of hostile requests: each gets a SNAP JSON error with its exact
# code, the upstream never sees one, no worker dies, nothing is [alert].

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(hmac_sha512 hmac_sha256);
use MIME::Base64 qw(encode_base64);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $e = $t->partner('Every');
my $key = $t->token_key('token.key');

my $N = '/api/v1.0/qr/qr-mpm-notify';
my $C = '/code';

$t->start_upstream;
$t->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    # every variant the module knows: its forms all tried on each request
    snap_client Every public_key=$e->{pem} secret_file=$e->{secret_file}
                compat=long_ids,empty_hash_field,sorted_query,path_without_query,rsa_empty_token,php_json,ascii_json,hex_signature;
    snap_token_key $key;
    snap_replay_zone ids:1m;
    large_client_header_buffers 4 256k;
    client_max_body_size 1m;
    client_body_buffer_size 16k;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_1%% http2;
        # names a CGI-style backend reads as the same header count as one
        underscores_in_headers on;
        location = /token { snap_token; }
        location = $N {
            snap_verify qr-mpm-notify;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = $C {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF

my @workers = sort $t->worker_pids;
my $token = $t->get_token($p);
my $seed = '{"additionalInfo":{"rrn":"305080000010"},"amount":{"currency":"IDR","value":"20.00"},"externalStoreId":"","latestTransactionStatus":"00","originalPartnerReferenceNo":"18000245195080000010","originalReferenceNo":"T25050000799117","transactionStatusDesc":"Success"}';

my $r = $t->snap($p, path => $N, token => $token, body => $seed);
is($r->{status}, 200, 'the valid seed notification passes');
my $base = $t->upstream_count;

my @cases;
sub case { push @cases, [@_] }

# 1. headers missing, empty, duplicated
for my $h ('X-TIMESTAMP', 'X-SIGNATURE', 'X-PARTNER-ID', 'X-EXTERNAL-ID',
    'CHANNEL-ID')
{
    case("missing $h", override => { $h => undef },
        '4005202', "Invalid Mandatory Field $h");
    case("empty $h", override => { $h => '' },
        '4005202', "Invalid Mandatory Field $h");
    case("duplicate $h", extra => [ $h => 'x' ],
        '4005201', "Invalid Field Format $h");
}
case('X-CHANNEL-ID beside CHANNEL-ID', extra => [ 'X-CHANNEL-ID' => '1' ],
    '4005201', 'Invalid Field Format X-CHANNEL-ID');

# the same names spelt with underscores, in other cases, or both
my @variants;
for my $h ('X-TIMESTAMP', 'X-SIGNATURE', 'X-PARTNER-ID', 'X-EXTERNAL-ID',
    'CHANNEL-ID', 'X-CHANNEL-ID')
{
    (my $under = $h) =~ tr/-/_/;
    (my $mixed = lc $h) =~ s/(^|-)(\w)/$1\u$2/g;
    (my $half = $h) =~ s/-([^-]*)$/_$1/;
    push @variants, $under, lc($under), $mixed, $half, lc $h;
}
for my $v (@variants) {
    case("$v beside the header", extra => [ $v => '1' ],
        '4005201', "Invalid Field Format $v");
}
case('missing Authorization', override => { Authorization => undef },
    '4015203', 'Token Not Found (B2B)');
case('duplicate Authorization', extra => [ Authorization => 'Bearer x' ],
    '4000000', 'Bad Request');
case('duplicate Content-Length', extra => [ 'Content-Length' => '5' ],
    '4000000', 'Bad Request');
case('Content-Length and chunked', extra => [ 'Transfer-Encoding' => 'chunked' ],
    '4000000', 'Bad Request');
case('NUL byte in a header value', override => { 'X-PARTNER-ID' => "Qoin\x00Snap" },
    '4000000', 'Bad Request');
case('NUL byte in a header name', extra => [ "X-Ev\x00il" => '1' ],
    '4000000', 'Bad Request');

# 2. timestamps
for my $ts ('9999-99-99T99:99:99+07:00', '2024-13-01T00:00:00Z',
    '2023-02-29T00:00:00Z', '2024-03-05T23:59:60Z', '2024-03-05T10:37:16+99:00',
    '2024-03-05T10:37:16+14:01', 'T', '1700000000', '2024-03-05',
    '2024-03-05T10:37:16.Z', '2024-03-05t10:37:16z', "2024-03-05T10:37:16Z\x7f",
    "\xef\xbc\x92\xef\xbc\x90\xef\xbc\x92\xef\xbc\x94-03-05T10:37:16Z",
    '2024-03-05T10:37:16.' . ('1' x 20) . 'Z', 'x' x 10000,
    '0000-01-01T00:00:00Z')
{
    case('timestamp ' . substr($ts, 0, 40), override => { 'X-TIMESTAMP' => $ts },
        '4005201', 'Invalid Field Format X-TIMESTAMP');
}
for my $off (-86400 * 365 * 100, -310, 310, 86400 * 365 * 7000) {
    case("timestamp off by $off s", timestamp => timestamp($off),
        '4015200', 'Unauthorized. [Timestamp]');
}

# 3. X-EXTERNAL-ID and X-PARTNER-ID
for my $id ('x' x 37, '1' x 1000, "ab\xffcd", "ab\x01cd", "\xc3\xa9t\xc3\xa9") {
    case('external id ' . length($id), external_id => $id,
        '4005201', 'Invalid Field Format X-EXTERNAL-ID');
}
for my $pid ('Nobody', 'q' x 1000, "Qoin\xffSnap", 'qoinsnap', ' QoinSnapX') {
    case('partner ' . substr($pid, 0, 20), override => { 'X-PARTNER-ID' => $pid },
        '4015200', 'Unauthorized. [Unknown client]');
}

# 4. signatures
my $good = sub { encode_base64(hmac_sha512(shift, $p->{secret}), '') };
for my $sig ('not base64 at all', 'QUJD QUJD', 'QUJD' . "\t", 'QUI', '=', '====',
    'QU-_', 'A' x 100_000, encode_base64('x' x 63, ''),
    encode_base64('x' x 65, ''), unpack('H*', 'x' x 64), "\xff\xfe")
{
    case('signature ' . substr($sig, 0, 20) . ' (' . length($sig) . ')',
        override => { 'X-SIGNATURE' => $sig },
        '4015200', 'Unauthorized. [Signature]');
}
case('signature over another secret', secret => 'other',
    '4015200', 'Unauthorized. [Signature]');
case('signature with Bearer in the token', signed_token => "Bearer $token",
    '4015200', 'Unauthorized. [Signature]');
case('signature over the lowercased token', signed_token => lc $token,
    '4015200', 'Unauthorized. [Signature]');

# a body that is not JSON is hashed by the minifier all the same: its
# signature is answered before its JSON
case('truncated JSON signed with another secret', secret => 'other',
    body => '{"originalReferenceNo": "T', '4015200', 'Unauthorized. [Signature]');
case('form body signed with another secret', secret => 'other',
    body => 'a=1 & b=2', '4015200', 'Unauthorized. [Signature]');
case('not JSON, spaced, correctly signed', body => "not  json {\n \"a\" : 1 }x",
    '4005200', 'Bad Request');

# 5. tokens
sub b64u { my $x = encode_base64(shift, ''); $x =~ tr{+/}{-_}; $x =~ s/=+$//; $x }
my $none = b64u('{"alg":"none","typ":"JWT"}') . '.'
    . b64u('{"jti":"0123456789abcdef0123456789abcdef","clientId":"QoinSnap","iat":1,"nbf":1,"exp":99999999999}') . '.';
my $forged_claims = b64u('{"jti":"0123456789abcdef0123456789abcdef","clientId":"QoinSnap","iat":1,"nbf":1,"exp":99999999999}');
my $hs = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9';
my $forged = "$hs.$forged_claims." . b64u(hmac_sha256("$hs.$forged_claims", 'guessed-key-guessed-key-guessed-key'));
my ($th, $tc, $ts) = split /\./, $token;
for my $tok ('x', 'a.b.c', $none, $forged, "$th.$tc", "$th.$tc.$ts.x",
    "$th.$tc." . reverse($ts), "$th.${tc}x.$ts", 'A' x 10000, "$th.$tc.$ts\xff")
{
    case('token ' . substr($tok, 0, 30), token => $tok,
        '4015201', 'Invalid Token (B2B)');
}
for my $auth ('Bearer', 'Bearer    ', 'Basic dXNlcjpwYXNz', "Token $token",
    'bearer', $token)
{
    case("authorization '$auth'", override => { Authorization => $auth },
        '4015203', 'Token Not Found (B2B)');
}

# 6. bodies, correctly signed
my $deep = ('[' x 10000) . (']' x 10000);
my $huge = '{"originalReferenceNo":"' . ('x' x 900_000) . '"}';
for my $b ('{', '{"a":', '{}x', "{\"a\":\"\x00\"}", "{\x0b}", $deep,
    '{"a":1,}', '{a:1}', "{'a':1}", '{"a":NaN}', 'grantType=client_credentials',
    '{"a":1}{"b":2}', "{\"a\":\"\x1f\"}")
{
    case('body ' . substr($b, 0, 20) . ' (' . length($b) . ')', body => $b,
        path => $C, '4005200', 'Bad Request');
}
# JSON, but not an object where a profile applies
for my $b ('null', '123', '"str"', '[]', '[{}]', 'true') {
    case("body $b on the profile", body => $b, '4005200', 'Bad Request');
}
case('deeply nested body on the profile', body => $deep, '4005200',
    'Bad Request');
case('huge body', body => $huge, '4005202',
    'Invalid Mandatory Field originalPartnerReferenceNo');
# JSON text is UTF-8 (RFC 8259): anything else is no JSON body
case('non-UTF-8 inside a string', body => "{\"originalReferenceNo\":\"\xff\xfe\"}",
    '4005200', 'Bad Request');
case('Latin-1 inside a string', body => "{\"originalReferenceNo\":\"caf\xe9\"}",
    '4005200', 'Bad Request');
case('a byte order mark before the body', body => "\xef\xbb\xbf{}",
    '4005200', 'Bad Request');
case('a raw tab inside a string', body => "{\"originalReferenceNo\":\"a\tb\"}",
    '4005200', 'Bad Request');
case('a checked member given twice',
    body => '{"originalReferenceNo":"T1","originalReferenceNo":"T2"}',
    '4005200', 'Bad Request');
case('an unchecked member given twice still meets the profile',
    body => '{"x":1,"x":2}', '4005202',
    'Invalid Mandatory Field originalReferenceNo');
case('wrong content type, form body', body => 'a=1&b=2',
    override => { 'Content-Type' => 'application/x-www-form-urlencoded' },
    '4005200', 'Bad Request');
case('body over client_max_body_size', body => '{"a":"' . ('y' x 1_100_000) . '"}',
    '4005200', 'Bad Request');

# run every case on its own connection
# Each case as the strict partner, then as the partner with every variant
# (make test-asan runs the variants' forms under AddressSanitizer), but
# those that are a variant of that partner's: a 37-character id, and the
# strict partner's own token signed over
my %strict_only = map { $_ => 1 } ('external id 37',
    'signature with Bearer in the token', 'signature over the lowercased token');
my $etoken = $t->get_token($e);

for my $who ([ $p, $token, '' ], [ $e, $etoken, 'every variant: ' ]) {
my ($wp, $wtoken, $label) = @$who;
for my $c (@cases) {
    next if $wp == $e && $strict_only{$c->[0]};
    my ($name, @rest) = @$c;
    my $msg = pop @rest;
    my $code = pop @rest;
    my %a = (path => $N, token => $wtoken, body => $seed, @rest);
    # the case's own override stays as it was for the next partner
    $a{override} = { %{$a{override}} } if $a{override};
    if (my $st = delete $a{signed_token}) {
        my $h = $t->snap_headers($wp, %a, token => $st);
        my %h = @$h;
        $h{Authorization} = "Bearer $wtoken";
        $a{override} = { %{$a{override} || {}}, 'X-SIGNATURE' => $h{'X-SIGNATURE'} };
    }
    if (exists $a{override} && exists $a{override}{'X-TIMESTAMP'}
        && defined $a{override}{'X-TIMESTAMP'} && length $a{override}{'X-TIMESTAMP'})
    {
        $a{timestamp} = delete $a{override}{'X-TIMESTAMP'};
    }
    my $r = $t->snap($wp, %a);
    is_snap_error($r, $code, $msg, "$label$name");
}
}

# 7. chunked abuse and pipelined junk, raw
my $hdrs = $t->snap_headers($p, path => $C, token => $token, body => '{}');
my $head = SnapTest::raw_head('POST', $C, $hdrs);
my %raw = (
    'chunk size not hex' => "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    'chunk size overflow' => "Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\n{}\r\n0\r\n\r\n",
    'chunk larger than the limit' => "Transfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x", 2_000_000) . "\r\n" . ('a' x 1000),
    'chunk without CRLF' => "Transfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    'unknown transfer coding' => "Transfer-Encoding: gzip\r\n\r\n{}",
);
for my $name (sort keys %raw) {
    my $r = SnapTest::parse_response($t->http($head . $raw{$name}));
    like($r->{json}{responseCode} // '', qr/^4\d\d(00|52)00$/,
        "$name: a SNAP 4xx code ($r->{status})");
    is($r->{headers}{'content-type'}, 'application/json', "$name: JSON");
}

my $junk = $t->http("POST $C HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"
    . "GARBAGE \x01\x02 NOT HTTP\r\n\r\n");
my @codes = $junk =~ /"responseCode":"(\d{7})"/g;
is_deeply(\@codes, [ '4005202', '4000000' ],
    'pipelined junk after a rejected request: both answered in SNAP JSON')
    or diag($junk);

# the header-name variants again over HTTP/2, where names arrive lower-case;
# no body: the headers are refused before it, and curl 7.88 takes the
# RST_STREAM (NO_ERROR) that follows an early answer for a failure
my $h2 = 0;
SKIP: {
    skip 'curl not found', scalar @variants unless -x '/usr/bin/curl';
    for my $v (@variants) {
        my $hdr = $t->snap_headers($p, path => $N, token => $token,
            body => $seed, extra => [ $v => '1' ]);
        my @args;
        my @h = @$hdr;
        while (my ($k, $val) = splice @h, 0, 2) { push @args, '-H', "$k: $val" }
        my $out = `curl -sS --http2-prior-knowledge -X POST -o - -w '\\n%{http_version}' @{[ map { "'$_'" } @args ]} http://127.0.0.1:@{[ $t->port(1) ]}$N 2>&1`;
        my $want = '{"responseCode":"4005201","responseMessage":'
            . '"Invalid Field Format ' . lc($v) . '"}';
        is($out, "$want\n2", "HTTP/2: $v beside the header");
        $h2++;
    }
}

my $count = scalar(@cases) + keys(%raw) + 1 + $h2;
cmp_ok($count, '>=', 100, "at least 100 hostile requests: $count");
is($t->upstream_count, $base, 'the upstream saw none of them');
is_deeply([ sort $t->worker_pids ], \@workers, 'no worker died');

$r = $t->snap($p, path => $N, token => $token, body => $seed);
is($r->{status}, 200, 'a valid request still passes afterwards');

$t->done;
