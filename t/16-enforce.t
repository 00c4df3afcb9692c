#!/usr/bin/perl

# snap_enforce off, the report-only rollout: every check still runs, its
# verdict is logged, exposed in $snap_reject_reason / $snap_response_code
# and counted with enforced="false", ids are still recorded, and the
# request reaches the upstream.  The same requests to an enforcing
# location are refused with the same codes, and never reach it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $s = $t->partner('Second');
my $h = $t->partner('Third');
my $key = $t->token_key('token.key');
my $d = $t->dir;

my $http = <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_client Second public_key=$s->{pem} secret_file=$s->{secret_file}
                allow=10.0.0.0/8;
    snap_client Third public_key=$h->{pem} secret_file=$h->{secret_file};
    snap_token_key $key;
    snap_replay_zone report:1m;
    snap_replay_zone enforce:1m;
    snap_metrics_zone metrics:1m;
    log_format snap '\$uri \$snap_reject_reason \$snap_response_code';
    access_log $d/snap.log snap;

    server {
        listen 127.0.0.1:%%PORT%%;

        location = /token { snap_token; }
        location = /short { snap_token; snap_token_ttl 1s; }

        location = /report {
            snap_verify qr-mpm-notify;
            snap_replay report;
            snap_enforce off;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /enforce {
            snap_verify qr-mpm-notify;
            snap_replay enforce;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF

my ($ok, $out) = $t->test_config($http);
ok($ok, 'nginx -t accepts snap_enforce off');
like($out, qr/\[warn\].*"snap_enforce" is off in location "\/report": requests that fail verification are reported and passed on/,
    'with a warning naming the location');
unlike($out, qr/location "\/enforce"/, 'and none for the enforcing one');

$t->start_upstream;
$t->run($http);

my $seed = '{"additionalInfo":{"rrn":"305080000010"},"amount":{"currency":"IDR","value":"20.00"},"externalStoreId":"","latestTransactionStatus":"00","originalPartnerReferenceNo":"18000245195080000010","originalReferenceNo":"T25050000799117","transactionStatusDesc":"Success"}';
my $token = $t->get_token($p);
my $tthird = $t->get_token($h);
my $tshort = $t->get_token($p, path => '/short');
sleep 2.1;

# the corpus: every reason the checks give, its code and message
my @corpus = (
    [ 'missing X-SIGNATURE', { override => { 'X-SIGNATURE' => undef } },
      'missing_field', '4005202', 'Invalid Mandatory Field X-SIGNATURE' ],
    [ 'a malformed X-TIMESTAMP', { override => { 'X-TIMESTAMP' => 'x' } },
      'bad_format', '4005201', 'Invalid Field Format X-TIMESTAMP' ],
    [ 'X-EXTERNAL-ID of 37 characters', { external_id => '1' x 37 },
      'bad_format', '4005201', 'Invalid Field Format X-EXTERNAL-ID' ],
    [ 'X-SIGNATURE twice', { extra => [ 'X-SIGNATURE' => 'x' ] },
      'duplicate_header', '4005201', 'Invalid Field Format X-SIGNATURE' ],
    [ 'no Authorization', { override => { Authorization => undef } },
      'token_missing', '4015203', 'Token Not Found (B2B)' ],
    [ 'an old timestamp', { timestamp => timestamp(-1000) },
      'timestamp', '4015200', 'Unauthorized. [Timestamp]' ],
    [ 'an unknown partner', { override => { 'X-PARTNER-ID' => 'Nobody' } },
      'unknown_client', '4015200', 'Unauthorized. [Unknown client]' ],
    [ 'a partner from an address not allowed', { partner => $s },
      'forbidden', '4015200', 'Unauthorized. [Connection not allowed]' ],
    [ 'a forged signature', { secret => 'wrong' },
      'signature', '4015200', 'Unauthorized. [Signature]' ],
    [ 'a forged token', { token => 'abc.def.ghi' },
      'token_invalid', '4015201', 'Invalid Token (B2B)' ],
    [ 'another partner\'s token', { token => $tthird },
      'token_partner', '4015201', 'Invalid Token (B2B)' ],
    [ 'an expired token', { token => $tshort },
      'token_expired', '4015201', 'Invalid Token (B2B)' ],
    [ 'a body that is not JSON', { body => 'not json' },
      'bad_json', '4005200', 'Bad Request' ],
    [ 'a mandatory body field missing',
      { body => '{"originalReferenceNo":"x"}' },
      'missing_field', '4005202',
      'Invalid Mandatory Field originalPartnerReferenceNo' ],
    [ 'a malformed body field',
      { body => $seed =~ s/"20.00"/"20"/r },
      'bad_format', '4005201', 'Invalid Field Format amount.value' ],
);

sub send_case {
    my ($path, $a) = @_;
    my %a = %$a;
    my $partner = delete $a{partner} // $p;
    return $t->snap($partner, path => $path, token => $token, body => $seed,
        %a);
}

# the access log's last line, once it is $want: nginx writes it after the
# answer has gone, so it may come a moment after the client read it
sub last_line {
    my ($want) = @_;
    my $line = '';
    for (1 .. 50) {
        $line = (split /\n/, $t->read_file('snap.log'))[-1] // '';
        last if $line eq $want;
        sleep 0.02;
    }
    return $line;
}

my %reasons;
for my $c (@corpus) {
    my ($name, $a, $reason, $code, $message) = @$c;
    $reasons{$reason}++;

    my $before = $t->upstream_count;
    my $r = send_case('/report', $a);
    is($r->{status}, 200, "report: $name reaches the upstream")
        or diag($r->{raw});
    is($t->upstream_count, $before + 1, "report: $name, received");
    is(last_line("/report $reason $code"), "/report $reason $code",
        "report: $name, logged as $reason $code");

    $r = send_case('/enforce', $a);
    is_snap_error($r, $code, $message, "enforce: $name refused");
    is($t->upstream_count, $before + 1, "enforce: $name, not received");
    is(last_line("/enforce $reason $code"), "/enforce $reason $code",
        "enforce: $name, the same verdict");
}

# the replay check, and ids recorded while reporting
my $id = external_id();
my $r = send_case('/report', { external_id => $id });
is($r->{status}, 200, 'report: a new id passes');
my @up = $t->upstream_requests;
is($up[-1]{body}, $seed, 'the upstream got the body as sent');
is(last_line('/report - -'), '/report - -',
    'a request that passes has no verdict');
$r = send_case('/report', { external_id => $id });
is($r->{status}, 200, 'report: the same id again reaches the upstream');
is(last_line('/report replay 4095200'), '/report replay 4095200',
    'logged as a replay: the id was recorded while reporting');
$r = send_case('/enforce', { external_id => $id });
is($r->{status}, 200, 'enforce: the id is new in its own zone');
$r = send_case('/enforce', { external_id => $id });
is_snap_error($r, '4095200', 'Conflict', 'enforce: the replay refused');
$reasons{replay}++;

# the error log says what would have been refused
like($t->read_file('error.log'),
    qr/snap: request would be rejected \(snap_enforce off, passed on\) with 4015200, signature/,
    'the error log line says the request was passed on');

# counters: each reason once per mode, never mixed
my $total = 2;
$total += 2 * $_ for values %reasons;
my $m = $t->scrape_when(sub {
    metric($_[0], 'snap_requests_total') == $total });
my $bad = 0;
for my $reason (keys %reasons) {
    for my $e ('true', 'false') {
        my $n = metric($m, 'snap_requests_total', outcome => $reason,
            enforced => $e);
        if ($n != $reasons{$reason}) {
            $bad++;
            diag("$reason enforced=$e: $n, expected $reasons{$reason}");
        }
    }
}
is($bad, 0, scalar(keys %reasons) . ' reasons counted once per mode, the '
    . 'two modes apart');
is(metric($m, 'snap_requests_total', outcome => 'accepted',
    enforced => 'false'), 1, 'report: one accepted');
is(metric($m, 'snap_requests_total', outcome => 'accepted',
    enforced => 'true'), 1, 'enforce: one accepted');
is(metric($m, 'snap_replay_recorded_total', zone => 'report'), 1,
    'the report zone recorded its one new id');

$t->done;
