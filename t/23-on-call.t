#!/usr/bin/perl

# On call: every refusal of a configured partner is tied to it, in the
# access log and the metrics, whatever check failed; each rejection's log
# line says what was received (the X-TIMESTAMP and how far off it is, the
# id no snap_client declares, what a malformed field holds), and never a
# secret, a token or a signature; $snap_key names the key that verified a
# request, across a rotation; snap_upstream_responses_total tells the
# app's failures from the partner's.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use MIME::Base64 qw(encode_base64);
use Crypt::OpenSSL::RSA;
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('AcmePay');
my $b = $t->partner('BankRot', partner_id => 'BANKROT');
my $key = $t->token_key('token.key');
my $d = $t->dir;

# AcmePay rotates its secret: the old one first, the new one second; the
# bank rotates its RSA key the same way
$t->write_file('AcmePay.new.secret', "new-secret-of-AcmePay-0123456789\n");
my $brsa2 = Crypt::OpenSSL::RSA->generate_key(2048);
$t->write_file('BankRot.new.pem', $brsa2->get_public_key_x509_string);

my $N = '/api/v1.0/qr/qr-mpm-notify';
my $body = '{"originalReferenceNo":"T1","latestTransactionStatus":"00"}';

$t->start_upstream(routes => { '/failing' => [ 503, '{"oops":1}', 0 ] });
$t->run(<<"EOF");
    snap_client AcmePay public_key=$p->{pem} secret_file=$p->{secret_file}
                secret_file=$d/AcmePay.new.secret;
    snap_client BankRot public_key=$b->{pem} public_key=$d/BankRot.new.pem
                partner_id=BANKROT signature=rsa;
    snap_token_key $key;
    snap_replay_zone ids:1m;
    snap_metrics_zone metrics:1m;

    log_format oncall '\$request_uri client=\$snap_client_id '
                      'partner=\$snap_partner_id key=\$snap_key '
                      'verified=\$snap_verified code=\$snap_response_code '
                      'reason=\$snap_reject_reason';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log $d/oncall.log oncall;

        location = /token { snap_token; }
        location = /notify {
            snap_verify 52;
            snap_signed_path $N;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /failing {
            snap_verify 52;
            snap_signed_path $N;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /bank {
            snap_verify 52 signature=rsa;
            snap_signed_path $N;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF

# the access log line of a request, once its answer went out
sub logged { $t->logged('oncall.log', $_[0]) }

my $token = $t->get_token($p);
my %want;    # reason => refusals counted under AcmePay

sub refused {
    my ($name, $path, $code, $reason, %a) = @_;
    my $r = $t->snap($p, path => $path, signed_path => $N, body => $body,
        token => $token, %a);
    is($r->{json}{responseCode} // $r->{status}, $code, "$name: $code");
    like(logged(qr/reason=$reason$/ . ''), qr/client=AcmePay partner=AcmePay key=\S* verified=- code=$code reason=$reason$/,
        "$name: the access log names the partner, reason $reason");
    $want{$reason}++;
    return $r;
}

##############################################################################
# every refusal kind of a configured partner, attributed

refused('a clock 10 minutes late', '/notify', '4015200', 'timestamp',
    timestamp => timestamp(-600));
refused('X-TIMESTAMP malformed', '/notify', '4005201', 'bad_format',
    timestamp => 'garbage-ts');
refused('X-SIGNATURE missing', '/notify', '4005202', 'missing_field',
    override => { 'X-SIGNATURE' => undef });
refused('no token', '/notify', '4015203', 'token_missing',
    override => { Authorization => undef });
refused('a forged token', '/notify', '4015201', 'token_invalid',
    token => 'abc.def.ghi');
refused('a forged signature', '/notify', '4015200', 'signature',
    secret => 'not-its-secret');
refused('a body that is not JSON', '/notify', '4005200', 'bad_json',
    body => 'not json');
refused('a header twice', '/notify', '4005201', 'duplicate_header',
    extra => [ 'X-TIMESTAMP' => timestamp() ]);

my $m = $t->scrape_when(sub {
    metric($_[0], 'snap_requests_total', partner => 'AcmePay') >= 8 });
for my $reason (sort keys %want) {
    is(metric($m, 'snap_requests_total', partner => 'AcmePay',
        outcome => $reason), $want{$reason},
        "snap_requests_total{partner=\"AcmePay\",outcome=\"$reason\"}");
}

# an id no snap_client declares stays "unknown": the label set is bounded
my $r = $t->snap($p, path => '/notify', signed_path => $N, body => $body,
    token => $token, override => { 'X-PARTNER-ID' => 'Acmepay' });
is($r->{json}{responseCode}, '4015200', 'X-PARTNER-ID Acmepay: 4015200');
like(logged(qr/reason=unknown_client$/),
    qr/client=- partner=- key=- verified=- code=4015200 reason=unknown_client$/,
    'an undeclared id: no partner in the access log');
$m = $t->scrape_when(sub { metric($_[0], 'snap_requests_total',
    outcome => 'unknown_client') >= 1 });
is(metric($m, 'snap_requests_total', partner => 'unknown',
    outcome => 'unknown_client'), 1, 'and counted as "unknown"');
ok(!grep({ $_->[1]{partner} && $_->[1]{partner} eq 'Acmepay' }
    @{$m->{samples}}), 'no series is made of a header\'s value');

##############################################################################
# what each rejection's log line says

my $log = $t->read_file('error.log');
like($log, qr/snap: request rejected with 4015200, timestamp "X-TIMESTAMP", partner "AcmePay", X-TIMESTAMP "[^"]+\+07:00" is 6\d\d s behind this node's clock \(snap_clock_skew 300 s\)/,
    'a late clock: the value received and how far behind');
like($log, qr/snap: request rejected with 4005201, bad_format "X-TIMESTAMP", partner "AcmePay", received "garbage-ts" \(10 characters\)/,
    'a malformed X-TIMESTAMP: what was received');
like($log, qr/snap: request rejected with 4015200, unknown_client, X-PARTNER-ID "Acmepay" names no snap_client/,
    'an unknown partner: the id received');

# local time written with "Z": 7 hours ahead, not a drifting clock
my $wibz = timestamp() =~ s/\+07:00$/Z/r;
$r = $t->snap($p, path => '/notify', signed_path => $N, body => $body,
    token => $token, timestamp => $wibz);
is($r->{json}{responseCode}, '4015200', 'WIB time with Z: refused');
like($t->read_file('error.log'), qr/X-TIMESTAMP "\Q$wibz\E" is 25\d\d\d s ahead of this node's clock/,
    'the log says it is 7 hours ahead');

# a token call whose signature fails: the string verified
my $ts = timestamp();
$r = $t->request(path => '/token',
    headers => $t->token_headers($p, timestamp => $ts,
        rsa => $brsa2), body => '{"grantType":"client_credentials"}');
is($r->{json}{responseCode}, '4017300', 'a token call signed with another '
    . 'key: refused');
like($t->read_file('error.log'),
    qr/snap: token call signature mismatch for client "AcmePay", string to sign "AcmePay\|\Q$ts\E"/,
    'the token call\'s mismatch line has the string verified');
like(logged(qr{^/token .*reason=signature$}),
    qr{client=AcmePay partner=AcmePay key=- verified=- code=4017300 reason=signature$},
    'and the token call is attributed too');

##############################################################################
# $snap_key: which key verified, across a rotation

my $before = $t->upstream_count;
$r = $t->snap($p, path => '/notify', signed_path => $N, body => $body,
    token => $token);
is($r->{status}, 200, 'signed with the old secret: accepted');
like(logged(qr/key=secret1 verified=1/),
    qr{^/notify client=AcmePay partner=AcmePay key=secret1 verified=1 code=- reason=-$},
    '$snap_key secret1, $snap_verified 1');
$r = $t->snap($p, path => '/notify', signed_path => $N, body => $body,
    token => $token, secret => 'new-secret-of-AcmePay-0123456789');
is($r->{status}, 200, 'signed with the new secret: accepted');
like(logged(qr/key=secret2 /), qr/key=secret2 verified=1 /,
    '$snap_key secret2');

# the bank's requests and token calls, with its second key
my $b2 = { %$b, rsa => $brsa2 };
$r = $t->snap($b2, path => '/bank', signed_path => $N, body => $body);
is($r->{status}, 200, 'RSA with the new key: accepted');
like(logged(qr{^/bank .*key=key2 }), qr/client=BankRot partner=BANKROT key=key2 verified=1/,
    '$snap_key key2');
$r = $t->snap($b, path => '/bank', signed_path => $N, body => $body);
like(logged(qr{^/bank .*key=key1 }), qr/key=key1 verified=1/,
    '$snap_key key1 with the old key');
$r = $t->request(path => '/token', headers => $t->token_headers($b2),
    body => '{"grantType":"client_credentials"}');
ok($r->{json}{accessToken}, 'a token call with the new key');
like(logged(qr{^/token client=BankRot .*key=key2}), qr/key=key2/,
    'the token call\'s $snap_key too');

$m = $t->scrape_when(sub { metric($_[0], 'snap_verified_keys_total',
    partner => 'BankRot') >= 3 });
is(metric($m, 'snap_verified_keys_total', partner => 'AcmePay',
    key => 'secret2'), 1, 'snap_verified_keys_total: AcmePay secret2 once');
is(metric($m, 'snap_verified_keys_total', partner => 'BankRot', key => 'key2'),
    2, 'BankRot key2: a transaction and a token call');
is(metric($m, 'snap_verified_keys_total', partner => 'BankRot', key => 'key1'),
    1, 'BankRot key1 once');
ok(defined metric($m, 'snap_verified_keys_total', partner => 'AcmePay',
    key => 'key1'), 'every key of a partner has its series');

##############################################################################
# what the app answered

$r = $t->snap($p, path => '/failing', signed_path => $N, body => $body,
    token => $token);
is($r->{status}, 503, 'verified, then the app answers 503');
$m = $t->scrape_when(sub { metric($_[0], 'snap_upstream_responses_total',
    status => '5xx') >= 1 });
is(metric($m, 'snap_upstream_responses_total', partner => 'AcmePay',
    service => '52', status => '5xx'), 1,
    'snap_upstream_responses_total: one 5xx from the app');
is(metric($m, 'snap_upstream_responses_total', partner => 'AcmePay',
    status => '2xx'), 2, 'and AcmePay\'s two accepted requests as 2xx');
is(metric($m, 'snap_upstream_responses_total', partner => 'BankRot',
    status => '2xx'), 2, 'the bank\'s two');
is(metric($m, 'snap_upstream_responses_total', status => '4xx'), 0,
    'refusals are not the app\'s answers');

##############################################################################
# no secret, token or signature in any log line

{
    my $logs = $t->read_file('error.log') . $t->read_file('oncall.log');
    my @secrets = ($p->{secret}, 'new-secret-of-AcmePay-0123456789', $token);
    my @sigs = map { $_->{headers}{'x-signature'} // () }
        $t->upstream_requests;
    ok(@sigs >= 4, 'signatures to look for');
    is(scalar(grep { index($logs, $_) >= 0 } @secrets, @sigs), 0,
        'no secret, token or signature in the logs');
}

##############################################################################
# Redis down at start-up: "could not connect", once a worker for the
# burst, never "closed the connection"; its recovery said once

SKIP: {
    skip 'redis-server is not installed', 5 unless -x '/usr/bin/redis-server';
    my $rt = SnapTest->new(workers => 2);
    my $rp = $rt->partner('BankRot');
    my $port = $rt->{redis_port} = SnapTest::free_port();
    $rt->start_upstream;
    $rt->run(<<"EOF");
    snap_client BankRot public_key=$rp->{pem} signature=rsa;
    snap_replay_zone ids:1m;
    snap_replay_redis ids 127.0.0.1:$port timeout=200ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /bank {
            snap_verify 52 signature=rsa;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    my $refused = 0;
    for (1 .. 8) {
        my $r = $rt->snap($rp, path => '/bank', body => $body);
        $refused++ if ($r->{json}{responseCode} // '') eq '5005200';
        sleep 0.1;
    }
    is($refused, 8, 'Redis down at start: every request 500xx00');
    my $log = $rt->read_file('error.log');
    my %err;
    $err{$_}++ for $log =~ /^\S+ \S+ \[error\] (\d+)#\d+: snap: redis zone "ids": could not connect to 127\.0\.0\.1:$port/mg;
    ok(%err && !grep({ $_ > 1 } values %err),
        '"could not connect", one error line a worker for the burst')
        or diag(explain \%err);
    unlike($log, qr/closed the connection/,
        'never "closed the connection" for a connection never made');
    $rt->start_redis;
    my $ok = 0;
    for (1 .. 50) {
        my $r = $rt->snap($rp, path => '/bank', body => $body);
        if ($r->{status} == 200) { $ok = 1; last }
        sleep 0.1;
    }
    ok($ok, 'Redis started: accepted again, without a reload');
    like($rt->read_file('error.log'),
        qr/\[notice\] .*snap: redis zone "ids": the primary 127\.0\.0\.1:$port answers, after \d+ ms of failures/,
        'the recovery logged at notice');
    $rt->stop;
    $rt->stop_upstream;
    $rt->stop_redis;
    $rt->check_log;
}

$t->done;
