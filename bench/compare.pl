#!/usr/bin/perl

# `make bench-compare BASE=REV`: the verified path of `make bench` on two
# builds of the module, the one in the tree and BASE's (BASE_MODULE), each
# in an nginx of its own, run round by round in turn so that the machine's
# noise falls on both alike; prints the medians and their ratio.  Paths
# (BENCH_PATHS, default "b r m", as `make bench` names them): b, the zone
# on the node; r, the zone on a local redis-server (when there is one); m,
# b with snap_metrics_zone, on a second nginx of each build.
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
my $redis = -x '/usr/bin/redis-server';
my @paths = grep { $_ ne 'r' || $redis }
    split ' ', ($ENV{BENCH_PATHS} || 'b r m');
my (%t, %script, $rport);

sub location {
    my ($name, $zone) = @_;
    return <<"LOC";
        location = /$name$path {
            snap_verify qr-mpm-notify;
            snap_replay $zone;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
LOC
}

for my $which (qw(base new)) {
    local $SnapTest::MODULE = $module{$which};
    for my $m (0, 1) {
        next if $m && !grep { $_ eq 'm' } @paths;
        my $t = SnapTest->new(workers => 1);
        my $p = $t->partner('QoinSnap');
        my $key = $t->token_key('token.key');
        $rport //= $t->start_redis if $redis && !$m;
        my $zones = "    snap_replay_zone ids:512m;\n";
        my $locations = location($m ? 'm' : 'b', 'ids');
        if ($redis && !$m) {
            $zones .= "    snap_replay_zone rids:512m;\n"
                . "    snap_replay_redis rids 127.0.0.1:$rport "
                . "prefix=$which:;\n";
            $locations .= location('r', 'rids');
        }
        $zones .= "    snap_metrics_zone metrics:1m;\n" if $m;
        $t->run(<<"EOF2", main => main_conf());
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
$zones
    snap_clock_skew 3600s;
    access_log off;
    keepalive_requests 1000000;

@{[ app() ]}
    server {
        listen 127.0.0.1:%%PORT%% backlog=4096;
        location = /token { snap_token; }
$locations    }
EOF2
        mapped($t);
        my $token = $t->get_token($p);
        my $body = notification();
        for my $name ($m ? ('m') : grep { $_ ne 'm' } @paths) {
            my %h = @{$t->snap_headers($p, path => "/$name$path",
                token => $token, body => $body,
                timestamp => timestamp(1200))};
            delete $h{'X-EXTERNAL-ID'};
            $script{$which}{$name} = lua($t, "$which-$name", 'POST',
                "/$name$path", \%h, $body, 1);
            $t{$which}{$name} = $t;
        }
    }
}

sub wrk {
    my ($which, $name) = @_;
    return SnapBench::wrk($t{$which}{$name}, "$which-$name",
        $script{$which}{$name}, $secs, $conns);
}

my %runs;
for my $round (1 .. $rounds) {
    for my $name (@paths) {
        # alternate which goes first, so neither always meets a warmer
        # machine
        for my $which ($round % 2 ? qw(base new) : qw(new base)) {
            push @{$runs{$name}{$which}}, wrk($which, $name);
        }
    }
}

printf "| path | build | requests/s | p99 ms |\n|---|---|---|---|\n";
for my $name (@paths) {
    my %m = map { $_ => median(@{$runs{$name}{$_}}) } qw(base new);
    printf "| (%s) | %s | %.0f | %.3f |\n", $name, $_, $m{$_}{rps},
        $m{$_}{p99} for qw(base new);
}
print "\n";
for my $name (@paths) {
    my %m = map { $_ => median(@{$runs{$name}{$_}}) } qw(base new);
    printf "(%s) new / base: %.1f%% of the requests/s; round by round: "
        . "%s\n", $name, 100 * $m{new}{rps} / $m{base}{rps},
        join ' ', map {
            sprintf '%.1f%%', 100 * $runs{$name}{new}[$_]{rps}
                / $runs{$name}{base}[$_]{rps}
        } 0 .. $rounds - 1;
}
printf "(median of %d interleaved rounds of %d s, %d connections, "
    . "1 worker)\n", $rounds, $secs, $conns;

my %seen;
$_->stop for grep { !$seen{$_}++ } map { values %$_ } values %t;
