#!/usr/bin/perl

# A Redis reached by name, as a managed Redis is (ElastiCache, Memorystore,
# Azure Cache): the name is resolved in the worker through nginx's own
# resolver, asking a DNS responder of the harness's own on loopback, and
# again as its answer's validity ends.  When the name moves, nginx follows
# within valid= plus 2 s, without a reload; a name that does not resolve
# yet stops neither nginx -t nor nginx; every address a name yields is
# tried.  Without a resolver, nginx -t says the name is resolved once.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use SnapTest;
use SnapRedisHA;

plan skip_all => 'redis-server not installed'
    unless -x '/usr/bin/redis-server';

my $t = SnapTest->new(workers => 2);
my $p = $t->partner('QoinSnap');
my $body = '{"originalReferenceNo":"T1","latestTransactionStatus":"00"}';
my $ha = SnapRedisHA->new($t);

# a primary and its replica on two loopback addresses, one port
my $port = SnapRedisHA::free_port('127.0.0.2', '127.0.0.3');
my $d1 = $ha->server(ip => '127.0.0.2', port => $port);
my $d2 = $ha->server(ip => '127.0.0.3', port => $port, replicaof => $d1);
ok($ha->wait_synced($d2), 'a primary on 127.0.0.2 and its replica on '
    . '127.0.0.3');

my %dns = ('redis.snap.test' => '127.0.0.2');
my $dns = $ha->dns(%dns);

sub conf {
    my (%o) = @_;
    my $resolver = exists $o{resolver} ? $o{resolver}
        : "resolver 127.0.0.1:$dns valid=1s ipv6=off;";
    my $zone = $o{zone} // 'ids';
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    $resolver
    snap_replay_zone $zone:1m;
    snap_replay_redis $zone $o{addresses} timeout=300ms;
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

my (%ts, %accepted);

sub send_id {
    my ($id) = @_;
    $ts{$id} //= timestamp();
    my $r = $t->snap($p, path => '/notify', body => $body,
        external_id => $id, timestamp => $ts{$id});
    return $r;
}

sub primary_is {
    my ($want) = @_;
    return $ha->node_primary_is($t, $want, sub { send_id(external_id()) });
}

# requests until one passes, for $secs at most: the moment it did
sub until_accepted {
    my ($secs) = @_;
    my $deadline = time + $secs;
    while (time < $deadline) {
        my $id = external_id();
        my $r = send_id($id);
        if ($r->{status} == 200) {
            $accepted{$id} = 1;
            return time;
        }
        sleep 0.05;
    }
    return undef;
}

$t->start_upstream;
$t->run(conf(addresses => "redis.snap.test:$port"));

for (1 .. 5) {
    my $id = external_id();
    $accepted{$id} = 1 if send_id($id)->{status} == 200;
}
is(scalar keys %accepted, 5, 'a name, resolved by the worker: accepted');
is(primary_is($d1), $d1, 'the primary in use is what the name resolves to');

##############################################################################
# a managed Redis's failover: the replica promoted, the old primary made
# its replica, the name moved

$ha->cli($d2, 'REPLICAOF', 'NO', 'ONE');
$ha->cli($d1, 'REPLICAOF', '127.0.0.3', $port);
$dns{'redis.snap.test'} = '127.0.0.3';
$ha->dns_set(%dns);
my $moved = time;
my $back = until_accepted(10);
ok($back && $back - $moved < 1 + 2,
    'the name moved: accepted again within valid=1s plus 2 s')
    or diag($back ? sprintf('%.1f s', $back - $moved) : 'never');
is(primary_is($d2), $d2, 'the primary in use is the new address');
my @twice = grep { send_id($_)->{status} == 200 } sort keys %accepted;
ok(!@twice, 'no id accepted before the move is accepted again after it');
my $log = $t->read_file('error.log');
like($log, qr/\[warn\].*snap: redis zone "ids": the primary is now \Q$d2\E \(was \Q$d1\E\)/,
    'a new primary is a warn line');

##############################################################################
# the name moves while the old address still works: followed all the same

my $port2 = SnapRedisHA::free_port('127.0.0.4', '127.0.0.5');
my $e1 = $ha->server(ip => '127.0.0.4', port => $port2);
my $e2 = $ha->server(ip => '127.0.0.5', port => $port2);
$dns{'move.snap.test'} = '127.0.0.4';
$ha->dns_set(%dns);
$t->reload(conf(zone => 'mv', addresses => "move.snap.test:$port2"));
ok(until_accepted(5), 'a second name: accepted');
like($ha->cli($e1, 'DBSIZE'), qr/^[1-9]/m, 'its id is on 127.0.0.4');
$dns{'move.snap.test'} = '127.0.0.5';
$ha->dns_set(%dns);
$moved = time;
my $there;
while (time < $moved + 6) {
    until_accepted(1);
    if ($ha->cli($e2, 'DBSIZE') =~ /^[1-9]/m) { $there = time; last }
    sleep 0.05;
}
ok($there && $there - $moved < 1 + 2,
    'the name moved, the old address alive: followed within valid=1s plus '
    . '2 s') or diag($there ? sprintf('%.1f s', $there - $moved) : 'never');
like($t->read_file('error.log'),
    qr/\[notice\].*snap: redis zone "mv": move\.snap\.test no longer resolves to \Q$e1\E, moving/,
    'the move is a notice line');

##############################################################################
# a name that does not resolve yet: nginx -t and nginx start, requests are
# refused until it does

my $late = conf(zone => 'late', addresses => "late.snap.test:$port");
my ($ok, $out) = $t->test_config($late);
ok($ok, 'a name that does not resolve: nginx -t passes')
    or diag($out);
$t->reload($late);
my $r = send_id(external_id());
is_snap_error($r, '5005200', 'General Error',
    'a name that does not resolve: 500xx00, never a pass');
my $resolve_said = 0;
for (1 .. 20) {
    last if ($resolve_said = $t->read_file('error.log')
        =~ /snap: redis zone "late": late\.snap\.test could not be resolved/);
    sleep 0.1;
}
ok($resolve_said, 'the error log says the name does not resolve');
$dns{'late.snap.test'} = '127.0.0.3';
$ha->dns_set(%dns);
$moved = time;
$back = until_accepted(10);
ok($back && $back - $moved < 1 + 2,
    'once it resolves: accepted within valid=1s plus 2 s')
    or diag($back ? sprintf('%.1f s', $back - $moved) : 'never');

##############################################################################
# every address a name yields, and every ADDRESS, is tried in turn

$dns{'two.snap.test'} = [ '127.0.0.6', '127.0.0.3' ];
$ha->dns_set(%dns);
$t->reload(conf(zone => 'two', addresses => "two.snap.test:$port"));
ok(until_accepted(5), 'a name of two addresses, the first dead: accepted '
    . 'through the second');
is(primary_is($d2), $d2, 'the second is in use');

##############################################################################
# without a resolver: resolved once, and nginx -t says so

my $cfg = conf(zone => 'fixed', resolver => '',
    addresses => "localhost:$port 127.0.0.3:$port");
($ok, $out) = $t->test_config($cfg);
ok($ok, 'without a resolver, a name: nginx -t passes');
like($out, qr/\[warn\].*"snap_replay_redis" fixed resolves its host names once, now, in \S+nginx\.conf:\d+: a "resolver" in the http block makes nginx follow them as they move/,
    'and warns that the name is resolved once');
$t->config_fails(conf(zone => 'bad', resolver => '',
    addresses => 'no-such-host.invalid:6379'),
    qr/redis address "no-such-host\.invalid:6379": host not found in \S+nginx\.conf:\d+/,
    'without a resolver, a name that does not resolve stops nginx -t, '
    . 'with file and line');

$t->stop;
$ha->stop;
done_testing();
