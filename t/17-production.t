#!/usr/bin/perl

# The production configuration the Debian package ships (debian/nginx/),
# as it is, with only its paths and ports moved into the test directory:
# nginx -t passes, and over its TLS listener every check answers the same
# over HTTP/2 as over HTTP/1.1 (headers, token, signature, body, replay);
# the requests that pass reach the app with Host kept; the site's error
# log at notice shows why a partner was refused; the metrics listener
# answers on loopback.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SnapTest;

plan skip_all => 'curl not found' unless -x '/usr/bin/curl';

my $t = SnapTest->new;
my $d = $t->dir;
my $root = "$FindBin::Bin/..";
my $ca = $t->test_ca('snap.example.com');

# the files an operator puts in /etc/nginx/snap/keys
my $p = $t->partner('QoinSnap');
mkdir "$d/keys";
$t->write_file('keys/qoinsnap.pub.pem', $t->read_file("$d/QoinSnap.pem"));
$t->write_file('keys/qoinsnap.secret', $p->{secret} . "\n");
$t->write_file('keys/token.key', ('k' x 40) . "\n");
mkdir "$d/tls";
$t->write_file('tls/fullchain.pem', $t->read_file($ca->{crt}));
$t->write_file('tls/privkey.pem', $t->read_file($ca->{key}));

# and the self-test partner of tools/snap-check, as snap-http.conf says
system("openssl genrsa -out $d/selftest.key 2048 2>/dev/null") == 0
    and system("openssl rsa -in $d/selftest.key -pubout "
        . "-out $d/keys/selftest.pub.pem 2>/dev/null") == 0
    or die "openssl";
$t->write_file('keys/selftest.secret', "selftest-secret-0123456789\n");

my ($tls, $metrics) = ($t->port(0), $t->port(1));
my $up = $t->upstream_port;

my $http = $t->read_file("$root/debian/nginx/snap-http.conf");
my $site = $t->read_file("$root/debian/nginx/snap-gateway");
for ($http, $site) {
    s{/etc/nginx/snap/}{$d/}g;
    s{/var/log/nginx/}{$d/}g;
}
$site =~ s{include \S+snap-http.conf;}{include $d/snap-http.conf;};
# the commented-out SelfTest partner, switched on
$http =~ s/^# (snap_client  SelfTest.*\n)#( .*\n)#( .*\n)/$1$2$3/m
    or die 'no SelfTest partner in snap-http.conf';
$site =~ s{listen 443 ssl http2;}{listen 127.0.0.1:$tls ssl http2;};
$site =~ s{\s*listen \[::\]:443 ssl http2;}{};
$site =~ s{127\.0\.0\.1:9145}{127.0.0.1:$metrics}g;
$site =~ s{server 127\.0\.0\.1:8081;}{server 127.0.0.1:$up;};
# an RSA-only partner beside it, for snap-check without SECRET=
system("openssl genrsa -out $d/selfbank.key 2048 2>/dev/null") == 0
    and system("openssl rsa -in $d/selfbank.key -pubout "
        . "-out $d/keys/selfbank.pub.pem 2>/dev/null") == 0
    or die "openssl";
$http .= "snap_client SelfBank public_key=$d/keys/selfbank.pub.pem "
    . "signature=rsa;\n";
$t->write_file('snap-http.conf', $http);

$t->start_upstream;
my ($ok, $out) = $t->test_config($site);
ok($ok, 'the shipped site and its http-level part pass nginx -t')
    or diag($out);
$t->run($site);

# curl, with the headers the harness signs, over HTTP/1.1 or HTTP/2
sub curl {
    my ($version, $path, $headers, $body) = @_;
    my @h;
    my @list = @$headers;
    while (my ($k, $v) = splice @list, 0, 2) {
        push @h, '-H', "$k: $v";
    }
    $t->write_file('body', $body);
    open my $fh, '-|', 'curl', '-sS', "--$version", '--cacert', $ca->{ca},
        '--resolve', "snap.example.com:$tls:127.0.0.1", '-X', 'POST',
        '-D', '-', '--data-binary', "\@$d/body", @h,
        "https://snap.example.com:$tls$path" or die "curl: $!";
    my $raw = do { local $/; <$fh> };
    close $fh;
    my $r = SnapTest::parse_response($raw =~ s{^HTTP/2 }{HTTP/1.1 }r);
    $r->{version} = ($raw =~ m{^HTTP/(\S+)}) ? $1 : '';
    return $r;
}

my $N = '/api/v1.0/qr/qr-mpm-notify';
my $body = '{"additionalInfo":{},"latestTransactionStatus":"00","originalPartnerReferenceNo":"18000245195080000010","originalReferenceNo":"T25050000799117","transactionStatusDesc":"Success","amount":{"value":"20.00","currency":"IDR"}}';

my %token;
for my $v ('http1.1', 'http2') {
    my $r = curl($v, '/api/v1.0/access-token/b2b', $t->token_headers($p),
        '{"grantType":"client_credentials"}');
    is($r->{version}, $v eq 'http2' ? '2' : '1.1', "$v: spoken");
    is($r->{json}{responseCode}, '2007300', "$v: the token call");
    $token{$v} = $r->{json}{accessToken};
}

my @cases = (
    [ 'accepted', {}, 200, '2005200' ],
    [ 'a header missing', { override => { 'X-SIGNATURE' => undef } }, 400,
      '4005202' ],
    [ 'no token', { override => { Authorization => undef } }, 401,
      '4015203' ],
    [ 'a forged token', { token => 'abc.def.ghi' }, 401, '4015201' ],
    [ 'a forged signature', { secret => 'wrong' }, 401, '4015200' ],
    [ 'a body field missing', { body => '{"originalReferenceNo":"x"}' },
      400, '4005202' ],
    [ 'a replay', { replay => 1 }, 409, '4095200' ],
);

my %answers;
for my $v ('http1.1', 'http2') {
    my $accepted_id;
    for my $c (@cases) {
        my ($name, $o, $status, $code) = @$c;
        my %a = %$o;
        my $replay = delete $a{replay};
        my $b = delete $a{body} // $body;
        my $id = $replay ? $accepted_id : external_id();
        $accepted_id //= $id;
        my $h = $t->snap_headers($p, path => $N, token => $token{$v},
            body => $b, external_id => $id, %a);
        my $r = curl($v, $N, $h, $b);
        my $got = $r->{json} ? $r->{json}{responseCode} : $r->{status};
        $got = '2005200' if $r->{status} == 200;
        is("$r->{status} $got", "$status $code", "$v: $name");
        push @{$answers{$v}}, "$r->{status} $got";
    }
}
is_deeply($answers{http2}, $answers{'http1.1'},
    'HTTP/2 gets the same answers as HTTP/1.1, check by check');

my @up = $t->upstream_requests;
is(scalar @up, 2, 'the app got the two accepted notifications');
is($up[-1]{headers}{host}, 'snap.example.com', 'with Host as the partner '
    . 'sent it');
is($up[-1]{headers}{'x-snap-client'}, 'QoinSnap', 'and X-Snap-Client');
is($up[-1]{body}, $body, 'and the body byte for byte');

like($t->read_file('snap-error.log'),
    qr/\[error\].*signature mismatch for client "QoinSnap"/,
    'the site\'s error log says why');
like($t->read_file('snap-access.log'),
    qr/client=QoinSnap partner=QoinSnap ext=\S+ svc=52 snap=4095200 reason=replay/,
    'the access log format carries the verdict');

my $m = $t->scrape(port => $metrics);
is($m->{status}, 200, 'the metrics listener on loopback');

# tools/snap-check, over TLS, as the README says to run it on the gateway
$out = `$root/tools/snap-check URL=https://snap.example.com:$tls CA=$ca->{ca} CONNECT=127.0.0.1 CLIENT=SelfTest KEY=$d/selftest.key SECRET=$d/keys/selftest.secret 2>&1`;
is($?, 0, 'snap-check against the shipped site: all as expected')
    or diag($out);
like($out, qr/^ok\s+a signed request\s+expected 200 200xxxx, got 200 2000000$/m,
    'the check location answered') or diag($out);
is(scalar(() = $out =~ /^ok /mg), 4, 'four answers checked');

# an RSA-only partner: no SECRET=, type 2 against the RSA check location
$out = `$root/tools/snap-check URL=https://snap.example.com:$tls CA=$ca->{ca} CONNECT=127.0.0.1 CLIENT=SelfBank KEY=$d/selfbank.key 2>&1`;
is($?, 0, 'snap-check for an RSA-only partner: all as expected')
    or diag($out);
is(scalar(() = $out =~ /^ok /mg), 4, 'its four answers checked');

# a token-only setup
$out = `$root/tools/snap-check URL=https://snap.example.com:$tls CA=$ca->{ca} CONNECT=127.0.0.1 CLIENT=SelfBank KEY=$d/selfbank.key TOKEN_ONLY=1 2>&1`;
ok($? == 0 && $out =~ /^1 of 1 as expected$/m,
    'snap-check TOKEN_ONLY=1: the token call alone') or diag($out);

# the operator's own body, its reference made unique each run
$t->write_file('body.json', "{\n  \"originalPartnerReferenceNo\": \"X\",\n"
    . "  \"serviceCode\": \"00\"\n}\n");
$out = `$root/tools/snap-check URL=https://snap.example.com:$tls CA=$ca->{ca} CONNECT=127.0.0.1 CLIENT=SelfTest KEY=$d/selftest.key SECRET=$d/keys/selftest.secret BODY=$d/body.json 2>&1`;
is($?, 0, 'snap-check BODY=file: all as expected') or diag($out);
like($out, qr/^ok\s+the same X-EXTERNAL-ID again \(replay\)/m,
    'with the file\'s body: signed, and its replay refused');

# --help, as the package's man page says
$out = `$root/tools/snap-check --help 2>&1`;
ok($? == 0 && $out =~ /^Test your own SNAP gateway/ && $out =~ /TOKEN_ONLY=1/,
    'snap-check --help');

$t->done;
