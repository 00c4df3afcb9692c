#!/usr/bin/perl

# `make bench-compare BASE=REV`: the verified path (b) of `make bench` on
# two builds of the module, the one in the tree and BASE's (BASE_MODULE),
# each in an nginx of its own, run round by round in turn so that the
# machine's noise falls on both alike; prints the medians and their ratio.
# BENCH_SECONDS (default 10), BENCH_CONNECTIONS (32), BENCH_ROUNDS (5).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use SnapTest;
use SnapBench qw(notification app lua median main_conf mapped);

my $secs = $ENV{BENCH_SECONDS} || 10;
my $conns = $ENV{BENCH_CONNECTIONS} || 32;
my $rounds = $ENV{BENCH_ROUNDS} || 5;
my %module = (base => $ENV{BASE_MODULE}, new => $SnapTest::MODULE);
die "BASE_MODULE is not set: run `make bench-compare BASE=REV`\n"
    unless $module{base};

my $path = '/api/v1.0/qr/qr-mpm-notify';
my (%t, %script);

for my $which (qw(base new)) {
    local $SnapTest::MODULE = $module{$which};
    my $t = SnapTest->new(workers => 1);
    my $p = $t->partner('QoinSnap');
    my $key = $t->token_key('token.key');
    $t->run(<<"EOF2", main => main_conf());
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    snap_replay_zone ids:512m;
    snap_clock_skew 3600s;
    access_log off;
    keepalive_requests 1000000;

@{[ app() ]}
    server {
        listen 127.0.0.1:%%PORT%% backlog=4096;
        location = /token { snap_token; }
        location = $path {
            snap_verify qr-mpm-notify;
            snap_replay ids;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
    }
EOF2
    mapped($t);
    my $token = $t->get_token($p);
    my $body = notification();
    my %h = @{$t->snap_headers($p, path => $path, token => $token,
        body => $body, timestamp => timestamp(1200))};
    delete $h{'X-EXTERNAL-ID'};
    $script{$which} = lua($t, $which, 'POST', $path, \%h, $body, 1);
    $t{$which} = $t;
}

sub wrk {
    my ($which) = @_;
    return SnapBench::wrk($t{$which}, $which, $script{$which}, $secs,
        $conns);
}

my %runs;
for my $round (1 .. $rounds) {
    # alternate which goes first, so neither always meets a warmer machine
    for my $which ($round % 2 ? qw(base new) : qw(new base)) {
        push @{$runs{$which}}, wrk($which);
    }
}

my %m = map { $_ => median(@{$runs{$_}}) } qw(base new);

printf "| build | requests/s | p99 ms |\n|---|---|---|\n";
printf "| %s | %.0f | %.3f |\n", $_, $m{$_}{rps}, $m{$_}{p99} for qw(base new);
printf "\nnew / base: %.1f%% of the requests/s (median of %d interleaved "
    . "rounds of %d s, %d connections, 1 worker)\n",
    100 * $m{new}{rps} / $m{base}{rps}, $rounds, $secs, $conns;
printf "round by round: %s\n", join ' ', map {
    sprintf '%.1f%%', 100 * $runs{new}[$_]{rps} / $runs{base}[$_]{rps}
} 0 .. $rounds - 1;

$t{$_}->stop for qw(base new);
