#!/usr/bin/perl

# `make bench`: what the SNAP checks cost next to proxying, on loopback,
# with wrk.  One nginx worker and one wrk thread, each bound to a core of
# its own where there are two (SnapBench::main_conf); prints a table and
# writes bench/results.md.  First the cost of each step on its own
# (bench/micro.c, SNAP_MICRO), from which the best ratios this machine
# allows are worked out, then the wrk runs: saturated with
# BENCH_CONNECTIONS, where latency is mostly queueing, and with a single
# connection, where it is what one request takes.
#
# BENCH_SECONDS (default 10), BENCH_CONNECTIONS (default 32),
# BENCH_FILL (live ids for the full-zone run, default 1000000),
# BENCH_ROUNDS (default 3): the runs are interleaved round by round and
# each figure is the median of its rounds, as a virtual machine's noise
# easily doubles a single run's p99.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use POSIX qw(strftime);
use Time::HiRes qw(time);
use SnapTest;
use SnapBench qw(notification app median main_conf mapped);
use SnapRedisHA;

my $secs = $ENV{BENCH_SECONDS} || 10;
my $conns = $ENV{BENCH_CONNECTIONS} || 32;
my $fill = $ENV{BENCH_FILL} // 1_000_000;
my $rounds = $ENV{BENCH_ROUNDS} || 3;

my $micro = '';
my %step;
if ($ENV{SNAP_MICRO}) {
    # on the core the nginx worker is bound to, as its steps run there
    my $on = SnapBench::on_core(0);
    $micro = `$on$ENV{SNAP_MICRO}`;
    die "bench/micro failed\n" if $?;
    print STDERR $micro;
    %step = map { /^\| (.+?) \| (\d+) \|/ ? ($1 => $2) : () }
        split /\n/, $micro;
}

my $t = SnapTest->new(workers => 1);
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');
$t->allow_log(qr/is full/);

# (r): the same path with its zone on a local redis-server, when there is one
my $redis = -x '/usr/bin/redis-server';
my $rport = $redis ? $t->start_redis : 0;

# a zone per round, so that each round of (b) starts empty (128 MB hold a
# million ids, more than a round adds), and one for (c), filled first
my $path = '/api/v1.0/qr/qr-mpm-notify';
my @zones = ((map { "r$_" } 1 .. $rounds), 'full');
# every location's path as long as the others, so that nginx's own parsing
# and location lookup cost (a) what they cost (b)
my %prefix = map { $_ => ($_ eq 'full' ? 'f0' : $_) } @zones;

# a verified location /PREFIX$path recording into ZONE
sub verified {
    my ($prefix, $zone) = @_;
    return <<"LOC";
        location = /$prefix$path {
            snap_verify qr-mpm-notify;
            snap_replay $zone;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
LOC
}

my $snap_locations = join '', map { verified($prefix{$_}, $_) } @zones;
my $zone_lines = join '', map {
    "    snap_replay_zone $_:" . ($_ eq 'full' ? '512m' : '128m') . ";\n"
} @zones;

# (g): 10 KB and 100 KB bodies, verified and plainly proxied, each path as
# long as the others
my %big = (k10 => 10 * 1024, k99 => 100 * 1024);
for my $k (sort keys %big) {
    $snap_locations .= verified($k, $k) . <<"LOC";
        location = /p${\ substr($k, 1)}$path {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }
LOC
    $zone_lines .= "    snap_replay_zone $k:128m;\n";
}

if ($redis) {
    for my $round (1 .. $rounds) {
        $snap_locations .= verified("q$round", "q$round");
        $zone_lines .= "    snap_replay_zone q$round:128m;\n"
            . "    snap_replay_redis q$round 127.0.0.1:$rport prefix=b$round:;\n";
    }
}

# (rs): the same through Redis Sentinel: a primary that three Sentinels
# watch, the zone naming the Sentinels.  No replica, as (r) has none: what
# is measured is the module's cost, not replication's, which is Redis's.
# (h): a failover under load, measured once the rounds are done, on a
# primary of its own with a replica and three Sentinels of their own.
my $sentinel = $redis && -x '/usr/bin/redis-sentinel';
my ($ha, $hh, $hh_primary);
if ($sentinel) {
    $ha = SnapRedisHA->new($t, name => 'rs');
    my @sentinels = $ha->sentinels($ha->server);
    for my $round (1 .. $rounds) {
        $snap_locations .= verified("n$round", "n$round");
        $zone_lines .= "    snap_replay_zone n$round:64m;\n"
            . "    snap_replay_redis n$round @sentinels sentinel=mymaster "
            . "prefix=s$round: timeout=200ms;\n";
    }

    $hh = SnapRedisHA->new($t, name => 'h');
    $hh_primary = $hh->server;
    my $replica = $hh->server(replicaof => $hh_primary);
    $hh->wait_synced($replica) or die "the bench's replica did not sync\n";
    my @hs = $hh->sentinels($hh_primary);
    $hh->wait_replicas(1) or die "the bench's Sentinels see no replica\n";
    $snap_locations .= verified('nh', 'nh');
    $zone_lines .= "    snap_replay_zone nh:16m;\n"
        . "    snap_replay_redis nh @hs sentinel=mymaster prefix=h: "
        . "timeout=200ms;\n";
}

# (s): outbound, nginx signing the app's plain call (the token from this
# nginx's own snap_token, fetched once and cached)
my $pd = $t->dir;
# what the bench's nginx share: the partner, quiet logs, the upstream
sub common {
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    snap_clock_skew 3600s;
    access_log off;
    error_log %%DIR%%/error.log warn;
    keepalive_requests 1000000;

@{[ app() ]}
EOF
}

$t->run(<<"EOF", main => main_conf());
    snap_provider self client_id=QoinSnap private_key=$pd/QoinSnap.key
                  secret_file=$p->{secret_file} channel_id=95221
                  token=/_snap/token;
    snap_provider_zone tokens:1m;
$zone_lines
@{[ common() ]}
    server {
        listen 127.0.0.1:%%PORT%% backlog=4096;
        client_body_buffer_size 128k;
        client_max_body_size 1m;

        location = /token { snap_token; }
        location = /return200 { return 200 '{}'; }

        location = /p0$path {
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }

        location = /_snap/token {
            internal;
            snap_provider_token self;
            proxy_pass http://127.0.0.1:%%PORT%%/token;
        }
        location = /s0$path {
            snap_sign self qr-mpm-notify;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://app;
        }

$snap_locations    }
EOF

# (m): (b) on a second nginx that is the same but for snap_metrics_zone,
# so every request is also counted; interleaved with (b) in every round
my $tm = SnapTest->new(workers => 1);
my $m_locations = join '', map { verified("r$_", "m$_") } 1 .. $rounds;
$tm->run(<<"EOF", main => main_conf());
@{[ join '', map { "    snap_replay_zone m$_:128m;\n" } 1 .. $rounds ]}
    snap_metrics_zone metrics:1m;
@{[ common() ]}
    server {
        listen 127.0.0.1:%%PORT%% backlog=4096;
$m_locations
        location = /snap/metrics { snap_metrics; }
    }
EOF

# (f): (b) on a third nginx, the same but with 2 workers, against (b) on
# 1 worker, both driven by wrk with 2 threads; nothing is bound to a core
# here but the one worker of (f1)
my $tw = SnapTest->new(workers => 2);
my $w_locations = join '', map { verified("w$_", "w$_") } 1 .. $rounds;
$tw->run(<<"EOF", main => "worker_rlimit_nofile 4096;\n");
@{[ join '', map { "    snap_replay_zone w$_:128m;\n" } 1 .. $rounds ]}
@{[ common() ]}
    server {
        listen 127.0.0.1:%%PORT%% backlog=4096 reuseport;
$w_locations
    }
EOF

# the replay zones of each nginx mapped before anything is measured
mapped($t) && mapped($tm) && mapped($tw)
    or die "a worker did not map its replay zones\n";

my $token = $t->get_token($p);

my $body = notification();

sub headers_for {
    my ($path, $b) = @_;
    my %h = @{$t->snap_headers($p, path => $path, token => $token,
        body => $b, timestamp => timestamp(1200))};
    delete $h{'X-EXTERNAL-ID'};
    return \%h;
}

sub headers { headers_for($_[0], $body) }
my %h = %{headers($path)};

sub lua { SnapBench::lua($t, @_) }

sub wrk {
    my ($name, $script, $seconds, $c) = @_;
    return SnapBench::wrk($t, $name, $script, $seconds, $c // $conns);
}

my %script = (
    plain => lua('plain', 'POST', "/p0$path", \%h, $body, 1),
    ret => lua('ret', 'GET', '/return200', {}, undef, 0),
    signed => lua('signed', 'POST', "/s0$path",
        { 'Content-Type' => 'application/json' }, $body, 0),
    token => lua('token', 'POST', '/token',
        { @{$t->token_headers($p, timestamp => timestamp(1200))} },
        '{"grantType":"client_credentials"}', 0),
);
$script{plain1} = $script{plain};

my %label = (plain => 'plain proxy_pass', snap => 'snap_verify + snap_replay',
    full => 'the same, full zone', ret => 'return 200', token => 'token call',
    plain1 => 'plain proxy_pass, 1 conn', snap1 => 'snap_verify, 1 conn',
    redis => 'the same, zone on Redis', signed => 'snap_sign',
    sentinel => 'the same, Redis by Sentinel',
    metrics => 'the same, metrics on', one2 => '(b), 1 worker, wrk -t2',
    two2 => '(b), 2 workers, wrk -t2', k10 => 'verified, 10 KB',
    p10 => 'plain, 10 KB', k99 => 'verified, 100 KB', p99 => 'plain, 100 KB');

my %big_body = map { $_ => notification($big{$_}) } keys %big;
for my $k (sort keys %big) {
    (my $pk = $k) =~ s/^k/p/;
    $script{$pk} = lua($pk, 'POST', "/$pk$path", \%h, $big_body{$k}, 1);
}

# the full zone is filled first, then measured in every round beside (b):
# each of its runs adds ids, so it is measured from $fill live ids up
$script{full} = lua('full', 'POST', "/f0$path", headers("/f0$path"),
    $body, 1);
# BENCH_RUNS="snap metrics": only these runs (their keys below), for as many
# rounds as a noisy machine needs; prints each round's ratio to the first
# and their median, and writes no results.md
my %only = map { $_ => 1 } split ' ', ($ENV{BENCH_RUNS} // '');
# (h) is no wrk run: asked for by name, reported on its own
my @only = grep { $_ ne 'h' } split ' ', ($ENV{BENCH_RUNS} // '');

my $live = 0;
while ($live < $fill && (!@only || $only{full})) {
    $live += wrk('filling the zone', $script{full}, 10)->{requests};
}
my $live_from = $live;

my (%runs, %r);
for my $round (1 .. $rounds) {
    # this round's empty zone
    $script{snap} = $script{snap1} = lua("snap$round", 'POST',
        "/r$round$path", headers("/r$round$path"), $body, 1);

    if ($redis) {
        $script{redis} = lua("redis$round", 'POST', "/q$round$path",
            headers("/q$round$path"), $body, 1);
    }

    if ($sentinel) {
        $script{sentinel} = lua("sentinel$round", 'POST', "/n$round$path",
            headers("/n$round$path"), $body, 1);
    }

    $script{metrics} = SnapBench::lua($tm, "metrics$round", 'POST',
        "/r$round$path", headers("/r$round$path"), $body, 1);
    $script{two2} = SnapBench::lua($tw, "two$round", 'POST',
        "/w$round$path", headers("/w$round$path"), $body, 1);
    $script{one2} = lua("one$round", 'POST', "/r$round$path",
        headers("/r$round$path"), $body, 1);
    for my $k (sort keys %big) {
        $script{$k} = lua("$k$round", 'POST', "/$k$path",
            headers_for("/$k$path", $big_body{$k}), $big_body{$k}, 1);
    }

    for my $k (qw(plain snap metrics full ret token plain1 snap1 signed
        one2 two2 p10 k10 p99 k99), $redis ? ('redis') : (),
        $sentinel ? ('sentinel') : ())
    {
        next if @only && !$only{$k};
        my $run = $k eq 'metrics'
            ? SnapBench::wrk($tm, "$label{$k} #$round", $script{$k}, $secs,
                $conns)
            : $k eq 'two2'
            ? SnapBench::wrk($tw, "$label{$k} #$round", $script{$k}, $secs,
                $conns, 2)
            : $k eq 'one2'
            ? SnapBench::wrk($t, "$label{$k} #$round", $script{$k}, $secs,
                $conns, 2)
            : wrk("$label{$k} #$round", $script{$k}, $secs,
                $k =~ /1$/ ? 1 : $conns);
        push @{$runs{$k}}, $run;
        $live += $run->{requests} if $k eq 'full';
    }
}
$r{$_} = median(@{$runs{$_}}) for keys %runs;

# what (m) counted: every request of its rounds, none lost
my $counted = metric($tm->scrape, 'snap_requests_total', outcome => 'accepted');
my $sent = 0;
$sent += $_->{requests} for @{$runs{metrics} || []};
die "metrics: $counted accepted counted, $sent sent\n" if $counted < $sent;

# (h): requests one after another through the Sentinel zone while its
# primary is killed: how long they got 500xx00, against when the
# Sentinels promoted the replica
my %fo;
if ($sentinel && (!@only || $only{h})) {
    my $hpath = "/nh$path";
    my ($killed, $first_500, $promoted, $back);
    my $deadline = time + 30;
    my $sent_h = 0;
    while (time < $deadline) {
        my $r = $t->snap($p, path => $hpath, body => $body, token => $token,
            external_id => external_id());
        my $now = time;
        $sent_h++;
        if (!$killed && $sent_h == 50) {
            $hh->signal('KILL', $hh_primary);
            $killed = $now;
        }
        $first_500 //= $now if $killed && $r->{status} != 200;
        if ($killed && !$promoted && $sent_h % 5 == 0) {
            my $now_primary = $hh->primary;
            $promoted = time if $now_primary && $now_primary ne $hh_primary;
        }
        if ($promoted && $r->{status} == 200) {
            $back = $now;
            last;
        }
    }
    die "(h): no failover measured\n" unless $back && $first_500;
    %fo = (refused => $back - $first_500, promotion => $promoted - $killed,
        after => $back - $promoted);
    printf STDERR "(h) 500xx00 for %.1f s; promotion %.1f s after the kill, "
        . "accepted again %.2f s after it\n", @fo{qw(refused promotion after)};
}
$_->stop for grep { $_ } $ha, $hh;

if (@only) {
    my $base = $only[0];
    for my $k (@only[1 .. $#only]) {
        my @ratio = sort { $a <=> $b } map {
            100 * $runs{$k}[$_]{rps} / $runs{$base}[$_]{rps} } 0 .. $rounds - 1;
        printf "%s / %s, round by round: %s; median %.1f%%, medians' ratio "
            . "%.1f%%\n", $label{$k}, $label{$base},
            join(' ', map { sprintf '%.1f%%', $_ } @ratio),
            $ratio[int(@ratio / 2)], 100 * $r{$k}{rps} / $r{$base}{rps};
    }
    $_->stop for $t, $tm, $tw;
    exit 0;
}

$t->stop;
$tm->stop;
$tw->stop;

my $cpu = `grep -m1 'model name' /proc/cpuinfo` =~ s/.*:\s*//r;
chomp $cpu;
my $nginx = `$SnapTest::NGINX_BIN -v 2>&1` =~ s/.*\///r;
chomp $nginx;
my $when = strftime('%Y-%m-%d', gmtime);

sub row {
    my ($name, $x, $ref) = @_;
    return sprintf "| %s | %.0f | %.3f | %.3f | %s |\n", $name, $x->{rps},
        $x->{p50}, $x->{p99},
        $ref ? sprintf('%.1f%% of %s', 100 * $x->{rps} / $ref->[1]{rps},
            $ref->[0]) : '';
}

my $md = "# Benchmark results\n\n"
    . "`make bench` on $when: $cpu, " . `nproc` =~ s/\s+//r . " cores, "
    . "nginx $nginx, 1 worker; wrk 1 thread"
    . (SnapBench::pinned() ? " (worker on core 0, wrk on core 1)" : "")
    . ", $conns connections, ${secs}s "
    . "per run, the median of $rounds interleaved rounds, "
    . "loopback; 1 KB notification body, a unique X-EXTERNAL-ID "
    . "per request; each round of (b) starts on an empty zone; upstream: "
    . "a `return 200` server in the same nginx over keepalive.\n\n"
    . "| run | requests/s | p50 ms | p99 ms | ratio |\n|---|---|---|---|---|\n"
    . row('(a) plain proxy_pass', $r{plain})
    . row('(b) snap_verify + snap_replay, empty zone', $r{snap},
        [ '(a)', $r{plain} ])
    . row("(c) the same, $live_from to $live live ids in the zone", $r{full},
        [ '(b)', $r{snap} ])
    . row('(d) return 200', $r{ret})
    . row('(e) token call (RSA-2048 verify + HS256 token)', $r{token},
        [ '(d)', $r{ret} ])
    . row('(a1) plain proxy_pass, 1 connection', $r{plain1})
    . row('(b1) snap_verify + snap_replay, 1 connection', $r{snap1},
        [ '(a1)', $r{plain1} ])
    . ($redis ? row('(r) (b) with the zone on Redis (loopback, '
        . 'snap_replay_redis)', $r{redis}, [ '(b)', $r{snap} ]) : '')
    . ($sentinel ? row('(rs) (r) with the primary found through three '
        . 'Sentinels (sentinel=)', $r{sentinel}, [ '(b)', $r{snap} ]) : '')
    . row('(m) (b) with snap_metrics_zone: every request counted',
        $r{metrics}, [ '(b)', $r{snap} ])
    . row('(f1) (b), 1 worker, wrk 2 threads', $r{one2})
    . row('(f2) (b), 2 workers, wrk 2 threads', $r{two2},
        [ '(f1)', $r{one2} ])
    . row('(g10a) plain proxy_pass, 10 KB body', $r{p10})
    . row('(g10b) snap_verify + snap_replay, 10 KB body', $r{k10},
        [ '(g10a)', $r{p10} ])
    . row('(g100a) plain proxy_pass, 100 KB body', $r{p99})
    . row('(g100b) snap_verify + snap_replay, 100 KB body', $r{k99},
        [ '(g100a)', $r{p99} ])
    . row('(s) snap_sign: body checked and minified, cached token, '
        . 'HMAC-SHA512, SNAP headers', $r{signed}, [ '(a)', $r{plain} ])
    . sprintf("\np99 of (b) minus p99 of (a), %d connections: %.3f ms; "
        . "with 1 connection: %.3f ms.\n", $conns,
        $r{snap}{p99} - $r{plain}{p99}, $r{snap1}{p99} - $r{plain1}{p99})
    . ($redis ? sprintf("p99 of (r) minus p99 of (b): %.3f ms "
        . "(target: (r) >= 85%% of (b), p99 + 0.5 ms at most).\n",
        $r{redis}{p99} - $r{snap}{p99}) : '')
    . (%fo ? sprintf("(h) a Sentinel failover under load (the primary "
        . "killed; down-after-milliseconds 2000, loopback): 500xx00 for "
        . "%.1f s, the promotion %.1f s after the kill, requests accepted "
        . "again %.2f s after the promotion.\n",
        @fo{qw(refused promotion after)}) : '')
    . "Targets: (b) >= 90% of (a); p99 (b) - (a) <= 0.1 ms; "
    . "(c) >= 95% of (b); (e) >= 25% of (d).\n"
    . ceilings();

# What the steps SNAP makes mandatory leave possible on this machine, even
# if the module cost nothing else: t(a) / (t(a) + t(steps)).
sub ceilings {
    return '' unless %step;
    my $hash = $step{'the mandated hashes'};
    my $all = $step{'every per-request step'};
    my $rsa = $step{'RSA-2048 verification (token call)'};
    my $ta = 1e9 / $r{plain}{rps};
    my $tb = 1e9 / $r{snap}{rps};
    my $td = 1e9 / $r{ret}{rps};
    my $te = 1e9 / $r{token}{rps};
    return "\n## Steps on their own (bench/micro.c)\n\n$micro\n"
        . sprintf("A proxied request takes %.0f ns of the worker (1 / (a)); "
        . "with the checks %.0f ns (1 / (b)), %.0f ns more. The two hashes "
        . "SNAP mandates (the body's SHA-256, the HMAC-SHA512) take %d ns "
        . "bare: "
        . "even if nothing else cost anything, (b) could reach at most "
        . "%.1f%% of (a) here; with every per-request step above (%d ns), "
        . "%.1f%%.\n\n", $ta, $tb, $tb - $ta, $hash,
        100 * $ta / ($ta + $hash), $all, 100 * $ta / ($ta + $all))
        . sprintf("A `return 200` takes %.0f ns (1 / (d)), a token call "
        . "%.0f ns (1 / (e)), of which the RSA-2048 verification alone "
        . "is %d ns: (e) could reach at most %.1f%% of (d) here.\n",
        $td, $te, $rsa, 100 * $td / ($td + $rsa));
}

$t->write_file('results.md', $md);
open my $fh, '>', "$FindBin::Bin/results.md" or die $!;
print $fh $md;
close $fh;
print $md;
