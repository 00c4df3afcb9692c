#!/usr/bin/perl

# A Redis that fails over, as production runs it: a primary, two replicas
# and three Sentinels (down after 2 s), Debian's redis-server and
# redis-sentinel on loopback, and two nginx nodes, one of them with
# wait=1.  The primary is killed, stopped and put to sleep: both nodes
# accept again within 5 s of the promotion, without a reload, and no id
# is accepted twice.  Then what a server says of itself: a replica's
# -READONLY, a loading server's -LOADING, a cluster node, too few
# replicas for wait=.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use SnapTest;
use SnapRedisHA;

plan skip_all => 'redis-server and redis-sentinel not installed'
    unless -x '/usr/bin/redis-server' && -x '/usr/bin/redis-sentinel';

my $a = SnapTest->new(workers => 2);
my $b = SnapTest->new(workers => 2);
my $p = $a->partner('QoinSnap');
my $body = '{"originalReferenceNo":"T1","latestTransactionStatus":"00"}';

my $ha = SnapRedisHA->new($a);
my $p1 = $ha->server;
my $p2 = $ha->server(replicaof => $p1);
my $p3 = $ha->server(replicaof => $p1);
ok($ha->wait_synced($p2) && $ha->wait_synced($p3),
    'a primary and two replicas, in sync');
my @sentinels = $ha->sentinels($p1);
ok($ha->wait_replicas(2), 'three Sentinels know both replicas');

sub conf {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    my $addresses = $o{addresses} // "@sentinels sentinel=mymaster";
    my $zone = $o{zone} // 'ids';
    my $timeout = $o{timeout} // '300ms';
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_replay_zone $zone:1m;
    snap_replay_redis $zone $addresses timeout=$timeout $extra;
    snap_metrics_zone metrics:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay $zone;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF
}

$a->start_upstream;
$b->start_upstream;
$a->run(conf());
$b->run(conf(extra => 'wait=1'));

# every id sent, with its X-TIMESTAMP and the node that accepted it
my (%ts, %accepted);

sub send_to {
    my ($node, $id, %o) = @_;
    $ts{$id} //= timestamp();
    my $r = $node->snap($p, path => '/notify', body => $body,
        external_id => $id, timestamp => $ts{$id});
    $accepted{$id} //= $node if $r->{status} == 200 && !$o{replay};
    return $r;
}

sub primary_is {
    my ($node, $want) = @_;
    return $ha->node_primary_is($node, $want,
        sub { send_to($node, external_id()) });
}

my $r = send_to($a, external_id());
is($r->{status}, 200, 'sentinel=: node A accepts through the primary');
$r = send_to($b, external_id());
is($r->{status}, 200, 'sentinel=, wait=1: node B too');
is(primary_is($a, $p1), $p1, 'snap_replay_store_primary names the primary');

# Requests to both nodes, in turn, until both have accepted again for a
# second after the promotion; returns the promotion's moment.  Node B
# (wait=1) can accept only once the new primary has a replica online,
# which is the Sentinels' pace, not nginx's: its 5 s count from then.
sub through_failover {
    my ($old, $name, $during) = @_;
    my ($promoted, $replicated, %back, %since);
    my $deadline = time + 25;
    my $n = 0;
    while (time < $deadline) {
        for my $node ($a, $b) {
            my $r = send_to($node, external_id());
            my $k = $node == $a ? 'A' : 'B';
            if ($promoted && $r->{status} == 200) {
                $back{$k} //= time;
            }
        }
        $during->() if $during;
        if (!$replicated && ($n++ % 3 == 0)) {
            my $now = $ha->primary;
            $promoted //= time if defined $now && $now ne $old;
            $replicated = time if $promoted
                && grep { /\bstate=online\b/ }
                        values %{ $ha->replication($now) };
        }
        last if $promoted && $back{A} && $back{B}
            && time > $back{A} + 1 && time > $back{B} + 1;
        sleep 0.02;
    }
    ok($promoted, "$name: the Sentinels promoted a replica");
    ok($back{A} && $back{A} - $promoted < 5,
        "$name: node A accepts again within 5 s of the promotion")
        or diag($back{A} ? sprintf('%.1f s', $back{A} - $promoted)
                         : 'never');
    ok($replicated && $back{B} && $back{B} - $replicated < 5,
        "$name: node B (wait=1) accepts again within 5 s of the new "
        . 'primary\'s first replica') or diag(sprintf '%s, %s',
            $replicated ? sprintf('replica %.1f s after the promotion',
                                  $replicated - $promoted) : 'no replica',
            $back{B} ? sprintf('accepted %.1f s after it',
                               $back{B} - ($replicated // $promoted))
                     : 'never accepted');
    return $promoted;
}

# every id accepted so far, sent again to the other node: a replay
sub none_twice {
    my ($name) = @_;
    my ($n, @twice) = (0);
    for my $id (sort keys %accepted) {
        my $other = $accepted{$id} == $a ? $b : $a;
        my $r = send_to($other, $id, replay => 1);
        $n++;
        push @twice, $id if $r->{status} == 200;
    }
    ok($n > 20 && !@twice,
        "$name: none of the $n ids accepted is accepted again on the "
        . 'other node') or diag("accepted twice: @twice");
}

##############################################################################
# the primary killed

my $old = $ha->primary;
$ha->signal('KILL', $old);
through_failover($old, 'killed');
my $new = $ha->primary;
none_twice('killed');
is(primary_is($a, $new), $new, 'killed: the gauge names the new primary');
like($a->read_file('error.log'),
    qr/\[warn\].*snap: redis zone "ids": the primary is now \Q$new\E \(was \Q$old\E\)/,
    'killed: the new primary is a warn line');
# a burst of failures is one error line a worker, the rest are details
my %errors;
for ($a->read_file('error.log') =~ /^.*\[error\] (\d+)#.*\Q$old\E.*$/mg) {
    $errors{$_}++;
}
ok(%errors && !grep({ $_ > 1 } values %errors),
    'killed: each worker says the primary is lost once, not at every '
    . 'attempt') or diag(explain \%errors);

# the old primary comes back: the Sentinels make it a replica
$ha->start($old);
ok($ha->wait_synced($old, 20), 'killed: the old primary is back as a '
    . 'replica');

##############################################################################
# the primary stopped (SIGSTOP), then woken once the replica took over

$old = $ha->primary;
$ha->signal('STOP', $old);
my $woken = 0;
through_failover($old, 'stopped', sub {
    if (!$woken && ($ha->primary // $old) ne $old) {
        $ha->signal('CONT', $old);
        $woken = 1;
    }
});
$ha->signal('CONT', $old);
# the woken primary, until the Sentinels demote it: nothing goes there
my $until = time + 3;
send_to($_, external_id()) for map { ($a, $b) } 1 .. 10;
sleep 0.05 while time < $until;
none_twice('stopped');
ok($ha->wait_synced($old, 20), 'stopped: the old primary is a replica');

##############################################################################
# the primary asleep (DEBUG SLEEP 8): it wakes up still a primary in its
# own view, until the Sentinels demote it

$old = $ha->primary;
$ha->debug_sleep($old, 8);
sleep 0.2;
my $asleep = time;
through_failover($old, 'asleep');
# past its waking, and the moments it still takes itself for the primary
while (time < $asleep + 11) {
    send_to($_, external_id()) for $a, $b;
    sleep 0.05;
}
none_twice('asleep');
my $ups = 0;
my %seen;
for my $node ($a, $b) {
    for my $req ($node->upstream_requests) {
        my ($id) = $req =~ /^X-EXTERNAL-ID: (\S+)\r?$/mi or next;
        $seen{$id}++;
    }
}
ok(!grep({ $seen{$_} > 1 } keys %seen),
    'no id reached an upstream twice, in any of the three');

my $m = $b->scrape;
ok(metric($m, 'snap_replay_store_errors_total', zone => 'ids')
    > 0, 'the failovers counted as store errors, by kind');
like($m->{raw}, qr/^snap_replay_store_errors_total\{zone="ids",kind="failover"\} \d+$/m,
    'the kind "failover" is listed');

$a->stop;
$b->stop;

##############################################################################
# ADDRESSes without sentinel=: candidates, the one whose ROLE is master
# kept; a replica's -READONLY on the connection in use finds the primary
# again

my $c = SnapTest->new;
my $q1 = $ha->server;
my $q2 = $ha->server(replicaof => $q1);
ok($ha->wait_synced($q2), 'two servers, one a replica');
my $dead = SnapRedisHA::free_port();
$c->start_upstream;
$c->run(conf(zone => 'cand',
    addresses => "127.0.0.1:$dead $q2 $q1"));
$r = send_to($c, external_id());
is($r->{status}, 200, 'candidates: a refused one and a replica are passed '
    . 'over for the primary');
is(primary_is($c, $q1), $q1, 'candidates: the primary is the one in use');
like($c->read_file('error.log'), qr/redis \Q$q2\E is a slave, not the primary/,
    'candidates: the replica is named as such');

# the roles swap while the connection stays open
$ha->cli($q2, 'REPLICAOF', 'NO', 'ONE');
$ha->cli($q1, 'REPLICAOF', split /:/, $q2);
$r = send_to($c, external_id());
is_snap_error($r, '5005200', 'General Error',
    '-READONLY: the request is refused, never passed');
like($c->read_file('error.log'),
    qr/redis \Q$q1\E answered "READONLY You can't write against a read only replica\.", finding the primary again \(zone "cand"\)/,
    '-READONLY: the log line carries Redis\'s text and the address');
my $ok = 0;
for (1 .. 30) {
    $r = send_to($c, external_id());
    if ($r->{status} == 200) { $ok = 1; last }
    sleep 0.1;
}
ok($ok, '-READONLY: the primary found again, without a reload');
is(primary_is($c, $q2), $q2, '-READONLY: the gauge names it');
$m = $c->scrape;
my $ro = metric($m, 'snap_replay_store_errors_total', zone => 'cand',
    kind => 'readonly');
ok($ro >= 1 && $ro <= 2,
    '-READONLY: counted once a worker at most, kind "readonly"')
    or diag("counted $ro");

# one address, a replica: refused on every request, said once
$c->reload(conf(zone => 'cand', addresses => $q1));
my $all = 1;
for (1 .. 5) {
    $r = send_to($c, external_id());
    $all = 0 unless ($r->{json}{responseCode} // '') eq '5005200';
    sleep 0.1;
}
ok($all, 'a replica alone: 500xx00 on every request');

##############################################################################
# -LOADING: a server loading its data set answers ROLE as a primary, and
# -LOADING to writes until it is done

my $l = $ha->server(args => [ '--save', '', '--dbfilename', 'dump.rdb' ]);
$ha->cli($l, 'DEBUG', 'POPULATE', 40000);
$ha->cli($l, 'SAVE');
$ha->signal('KILL', $l);
$ha->{servers}{$l}{args} = [ @{$ha->{servers}{$l}{args}},
    '--key-load-delay', 50, '--loading-process-events-interval-bytes', 1024 ];
$c->reload(conf(zone => 'load', addresses => $l));
$ha->start($l);
my $loading = $ha->cli($l, 'SET', 'x', 'y') =~ /LOADING/;
ok($loading, 'the server is loading');
$r = send_to($c, external_id());
is_snap_error($r, '5005200', 'General Error', '-LOADING: refused');
my $loaded;
for (1 .. 600) {
    $r = send_to($c, external_id());
    last if $r->{status} == 200;
    if ($ha->cli($l, 'INFO', 'persistence') =~ /^loading:0/m) {
        $loaded //= time;
        last if time > $loaded + 3;
    }
    sleep 0.05;
}
ok($r->{status} == 200 && (!$loaded || time - $loaded < 3),
    '-LOADING: accepted once the data set is loaded');
my @loading_errors = $c->read_file('error.log')
    =~ /^.*\[error\] (\d+)#\d+: snap: redis \Q$l\E answered "LOADING/mg;
my %per;
$per{$_}++ for @loading_errors;
ok(!grep({ $_ > 1 } values %per),
    '-LOADING: one error line a worker for the whole of it');
like($c->read_file('error.log'),
    qr/redis \Q$l\E answered "LOADING Redis is loading the dataset in memory", finding the primary again/,
    '-LOADING: the log line carries Redis\'s text');
$m = $c->scrape;
ok(metric($m, 'snap_replay_store_errors_total', zone => 'load',
    kind => 'loading') >= 1, '-LOADING: counted, kind "loading"');

##############################################################################
# a cluster node: named as unsupported, once, and refused

my $k = $ha->server(args => [ '--cluster-enabled', 'yes',
    '--cluster-config-file', "$ha->{dir}/nodes-k.conf" ]);
$c->reload(conf(zone => 'clu', addresses => $k));
$all = 1;
for (1 .. 5) {
    $r = send_to($c, external_id());
    $all = 0 unless ($r->{json}{responseCode} // '') eq '5005200';
    sleep 0.1;
}
ok($all, 'cluster mode: 500xx00 on every request');
my %said;
$said{$_}++ for $c->read_file('error.log')
    =~ /^.*\] (\d+)#\d+: snap: redis \S+ runs in cluster mode/mg;
ok(%said && !grep({ $_ > 1 } values %said),
    'cluster mode: named once a worker, whatever the requests');
like($c->read_file('error.log'),
    qr/redis \Q$k\E runs in cluster mode, which "snap_replay_redis" does not support: every request of zone "clu" is refused; point it at a standalone primary, or at its Sentinels with "sentinel="/,
    'cluster mode: with what to do');

##############################################################################
# wait=1 with no replica: every write refused and taken back

my $lone = $ha->server;
$c->reload(conf(zone => 'lone', addresses => $lone, extra => 'wait=1'));
my $id = external_id();
$r = send_to($c, $id);
is_snap_error($r, '5005200', 'General Error',
    'wait=1 without a replica: refused');
like($c->read_file('error.log'),
    qr/snap: redis zone "lone" has 0 of 1 replicas after a write \(wait=1\), request refused/,
    'wait=1: the log says how many replicas acknowledged');
$ok = 0;
for (1 .. 20) {
    last if ($ok = $ha->cli($lone, 'DBSIZE') =~ /^0$/m);
    sleep 0.1;
}
ok($ok, 'wait=1: the write was taken back');
$m = $c->scrape;
is(metric($m, 'snap_replay_store_errors_total', zone => 'lone',
    kind => 'wait'), 1, 'wait=1: counted, kind "wait"');
my $replica = $ha->server(replicaof => $lone);
my ($tok, $tout) = $c->test_config(conf(zone => 'lone', addresses => $lone,
    timeout => '200ms', extra => 'wait=1'));
ok($tok, 'wait=1, timeout=200ms: nginx -t passes');
like($tout, qr/\[warn\].*"wait=" with "timeout=" under 300ms: Redis ends a WAIT at its own ticks, 100 ms apart, so a missing replica may be reported as a timeout in \S+nginx\.conf:\d+/,
    'and warns that a missing replica may be reported as a timeout');
$ha->wait_synced($replica);
$r = send_to($c, $id);
is($r->{status}, 200, 'wait=1: with a replica, the same id passes');

##############################################################################
# Sentinels that require a password: sentinel_password_file=

my $hs = SnapRedisHA->new($c, name => 'hs');
my $sp = $hs->server;
my ($guarded) = $hs->sentinels($sp, count => 1, password => 'sent-pass');
$c->write_file('sentinel.pass', "sent-pass\n");
$c->write_file('wrong.pass', "not-it\n");
my $sd = $c->dir;
$c->reload(conf(zone => 'sp', addresses => $guarded,
    extra => "sentinel=mymaster sentinel_password_file=$sd/sentinel.pass"));
$ok = 0;
for (1 .. 30) {
    $r = send_to($c, external_id());
    if ($r->{status} == 200) { $ok = 1; last }
    sleep 0.1;
}
ok($ok, 'sentinel_password_file=: the Sentinel names the primary');
$c->reload(conf(zone => 'sp', addresses => $guarded,
    extra => "sentinel=mymaster sentinel_password_file=$sd/wrong.pass"));
$all = 1;
for (1 .. 5) {
    $r = send_to($c, external_id());
    $all = 0 unless ($r->{json}{responseCode} // '') eq '5005200';
    sleep 0.1;
}
ok($all, 'a wrong Sentinel password: 500xx00 on every request');
like($c->read_file('error.log'),
    qr/snap: redis Sentinel \Q$guarded\E refused AUTH: "WRONGPASS[^"]*" \(zone "sp"\)/,
    'and the log says the Sentinel refused it');
unlike($c->read_file('error.log'), qr/sent-pass|not-it/,
    'never the password');

$c->stop;
$hs->stop;
$ha->stop;
done_testing();
