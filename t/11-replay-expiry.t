#!/usr/bin/perl

# A recorded X-EXTERNAL-ID stays until no request that could still be
# accepted could match it: across midnight (libfaketime moves the workers'
# clock, a reload brings the new one), for the largest skew of any location
# using the zone, and for a skew raised by a reload.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(strftime);
use SnapTest;

my $lib = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
plan skip_all => 'libfaketime not installed' unless -e $lib;
# libfaketime deadlocks the sanitizer runtime while it starts
plan skip_all => 'libfaketime under make test-asan' if $SnapTest::PRELOAD;

my $t = SnapTest->new(workers => 1);
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');
my $body = '{"originalReferenceNo":"T25050000799117","latestTransactionStatus":"00"}';

# seconds from now to hh:mm:ss WIB on the next WIB day (or this one)
my $real = time;
my $wib_midnight = (int(($real + 7 * 3600) / 86400) + 1) * 86400 - 7 * 3600;
sub offset_to { my ($since_midnight) = @_; $wib_midnight + $since_midnight - $real }

sub conf {
    my ($offset, $skew_short, $skew_long) = @_;
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem};
    snap_token_key $key;
    snap_replay_zone ids:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        location = /short {
            snap_verify 52 signature=rsa;
            snap_replay ids;
            snap_clock_skew $skew_short;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /long {
            snap_verify 52 signature=rsa;
            snap_replay ids;
            snap_clock_skew $skew_long;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
}

# the clock is the workers' environment: a reload brings a new one
sub main_env {
    my ($offset) = @_;
    return "env FAKETIME=+$offset;\nenv FAKETIME_NO_CACHE=1;\n";
}

# X-TIMESTAMP for a moment given from WIB midnight (negative: the day before)
sub stamp {
    my ($since_midnight) = @_;
    return strftime('%Y-%m-%dT%H:%M:%S+07:00',
        gmtime($wib_midnight + $since_midnight + 7 * 3600));
}

sub send_id {
    my ($path, $id, $at) = @_;
    return $t->snap($p, path => $path, body => $body, external_id => $id,
        timestamp => stamp($at));
}

# 23:59:50 WIB: record two ids through the short-skew location
my $off = offset_to(-10);
$t->start_upstream;
$t->config(conf($off, '300s', '900s'), main => main_env($off));
$t->run(undef, env => { LD_PRELOAD => $lib, FAKETIME => "+$off",
    FAKETIME_NO_CACHE => 1 });

my $r = send_id('/short', 'late-1', -10);
is($r->{status}, 200, '23:59:50: an id recorded where the skew is 300 s')
    or diag($r->{raw});

# 00:10:00 on the next day, past 23:59:50 + 300 s, within + 900 s
$off = offset_to(600);
$t->reload(conf($off, '300s', '900s'), main => main_env($off));

$r = send_id('/long', 'fresh-1', 600);
is($r->{status}, 200, '00:10:00: a fresh id (its insert reclaims ended days)');
$r = send_id('/long', 'late-1', -10);
is_snap_error($r, '4095200', 'Conflict',
    'the id is still refused where the skew is 900 s: the zone keeps the '
    . 'day for the largest skew of its locations');
$r = send_id('/short', 'late-2', -10);
is_snap_error($r, '4015200', 'Unauthorized. [Timestamp]',
    'where the skew is 300 s the stamp is too old anyway');

# a reload that raises the skew: ids recorded under the old one stay
$off = offset_to(86400 - 10);
$t->reload(conf($off, '300s', '300s'), main => main_env($off));
$r = send_id('/short', 'raised-1', 86400 - 10);
is($r->{status}, 200, 'the next 23:59:50: an id recorded with skew 300 s');

# 00:17:00: past the 900 s the zone has kept so far, within 1200 s
$off = offset_to(86400 + 1020);
$t->reload(conf($off, '1200s', '1200s'), main => main_env($off));
$r = send_id('/short', 'fresh-2', 86400 + 1020);
is($r->{status}, 200, '00:17:00 after a reload to 1200 s: a fresh id');
$r = send_id('/short', 'raised-1', 86400 - 10);
is_snap_error($r, '4095200', 'Conflict',
    'the id recorded before the reload is kept for the raised skew');

$t->done;
