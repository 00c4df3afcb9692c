#!/usr/bin/perl

# conf.example, as `make run` starts it, runs the whole demo flow.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use SnapTest;

my $t = SnapTest->new;
my $d = $t->dir;
my $root = "$FindBin::Bin/..";

system("openssl genrsa -out $d/partner.key 2048 2>/dev/null") == 0
    or die "openssl genrsa";
system("openssl rsa -in $d/partner.key -pubout -out $d/partner.pub.pem "
    . "2>/dev/null") == 0 or die "openssl rsa";
$t->write_file('partner.secret', "demo-secret-0123456789abcdef\n");
$t->write_file('token.key', ('t' x 40) . "\n");
mkdir "$d/tmp";

my $conf = $t->read_file("$root/conf.example");
my ($p0, $p1, $p2, $p3) = map { $t->port($_) } 0 .. 3;
$conf =~ s/__MODULE__/$SnapTest::MODULE/g;
$conf =~ s/__DEMO__/$d/g;
$conf =~ s/127\.0\.0\.1:8080/127.0.0.1:$p0/g;
$conf =~ s/127\.0\.0\.1:8081/127.0.0.1:$p1/g;
$conf =~ s/127\.0\.0\.1:8082/127.0.0.1:$p2/g;
$conf =~ s/127\.0\.0\.1:9145/127.0.0.1:$p3/g;
$conf = "user root;\n$conf" if $> == 0;
$t->write_file('nginx.conf', $conf);

my $out = `$SnapTest::NGINX -t -p $d/ -c $d/nginx.conf 2>&1`;
is($?, 0, 'conf.example passes nginx -t') or diag($out);

$t->run;

$out = `SNAP_URL=http://127.0.0.1:$p0 SNAP_OUT_URL=http://127.0.0.1:$p2 SNAP_DEMO_DIR=$d perl $root/tools/demo.pl 2>&1`;
is($?, 0, 'the demo client ran') or diag($out);
my @codes = $out =~ /-> HTTP \d+ \{"responseCode":"(\d{7})"/g;
is_deeply(\@codes, [qw(2007300 2005200 4095200 4015200 2005200)],
    'token, notification, replay refused, forgery refused, a call nginx '
    . 'signed accepted') or diag($out);

like($t->read_file('access.log'),
    qr/client=QoinSnap partner=QoinSnap ext=\d+ svc=52 snap=4095200 reason=replay/,
    'the log_format of conf.example shows the snap variables');

like($t->read_file('outbound.log'),
    qr/"POST \/api\/v1.0\/qr\/qr-mpm-notify HTTP\/1.1" 200 provider=demo token=fetched ext=\d{36} ts=\S+\+07:00/,
    'the outbound log_format of conf.example');

# tools/snap-check against the demo: the four expected answers
$out = `$root/tools/snap-check URL=http://127.0.0.1:$p0 CLIENT=QoinSnap KEY=$d/partner.key SECRET=$d/partner.secret 2>&1`;
is($?, 0, 'snap-check: all as expected') or diag($out);
is(scalar(() = $out =~ /^ok /mg), 4, 'four answers checked') or diag($out);
like($out, qr/^ok\s+a forged signature\s+expected 401 401xx00, got 401 4010000$/m,
    'the forgery refused with the check location\'s code');
my $before = () = $t->read_file('access.log') =~ /\n/g;
$out = `$root/tools/snap-check URL=http://127.0.0.1:$p0 CLIENT=QoinSnap KEY=$d/partner.key SECRET=$d/partner.secret ENDPOINT=/api/v1.0/qr/qr-mpm-notify 2>&1`;
isnt($?, 0, 'snap-check refuses a real payment path without LIVE=1');
like($out, qr/would reach your application/, 'and says why');
is(scalar(() = $t->read_file('access.log') =~ /\n/g), $before,
    'nothing was sent');
$out = `$root/tools/snap-check URL=http://127.0.0.1:$p0 CLIENT=QoinSnap KEY=$d/partner.key SECRET=$d/partner.secret.wrong 2>&1`;
isnt($?, 0, 'a missing secret file: snap-check fails');
$t->write_file('wrong.secret', "not-the-secret\n");
$out = `$root/tools/snap-check URL=http://127.0.0.1:$p0 CLIENT=QoinSnap KEY=$d/partner.key SECRET=$d/wrong.secret 2>&1`;
is($?, 256, 'the wrong secret: snap-check reports the failure');
like($out, qr/^FAIL a signed request\s+expected 200 200xxxx, got 401 4010000$/m,
    'on the signed request') or diag($out);

# the scrape target of conf.example counted the demo
my $m = $t->scrape_when(sub {
    metric($_[0], 'snap_outbound_requests_total', outcome => 'signed') == 1
    && metric($_[0], 'snap_requests_total', service => 52) == 4 },
    port => $p3);
my %q = (partner => 'QoinSnap', service => 52, enforced => 'true');
is(join(' ', map { metric($m, 'snap_requests_total', %q, outcome => $_) }
    qw(accepted replay signature)), '2 1 1',
    'the metrics of conf.example: 2 accepted (one signed by nginx), a '
    . 'replay, a forgery');
is(metric($m, 'snap_outbound_requests_total', provider => 'demo',
    outcome => 'signed'), 1, 'and the call nginx signed');

$t->done;
