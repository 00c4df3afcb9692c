#!/usr/bin/perl

# The replay store on Redis: two nginx nodes share Debian's redis-server,
# started on a free loopback port.  First use wins across nodes; the
# failure policy is fail closed (or the node's zone alone with
# on_error=local); nothing unverified is ever written.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use SnapTest;

plan skip_all => 'redis-server not installed' unless -x '/usr/bin/redis-server';

my $a = SnapTest->new;
my $p = $a->partner('QoinSnap');
my $o = $a->partner('Other', partner_id => 'OTHER');
my $key = $a->token_key('token.key');
$a->write_file('redis.pass', "s3cret-redis-pass\n");
$a->write_file('wrong.pass', "not-the-password\n");
my $rport = $a->start_redis(password => 's3cret-redis-pass');
my $d = $a->dir;
my $down = SnapTest::free_port();

sub conf {
    my (%c) = @_;
    my $pass = $c{pass} // "$d/redis.pass";
    my $on_error = $c{on_error} // 'closed';
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_client Other public_key=$o->{pem} secret_file=$o->{secret_file}
                partner_id=OTHER;
    snap_token_key $key;
    snap_replay_zone ids:1m;
    snap_replay_redis ids 127.0.0.1:$rport password_file=$pass db=2
                      prefix=t12: timeout=300ms on_error=$on_error;

    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /notify {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /down {
            snap_verify 52;
            snap_replay ids release_on_failure;
            proxy_pass http://127.0.0.1:$down;
        }
    }
EOF
}

my $b = SnapTest->new;
$a->start_upstream;
$b->start_upstream;
$a->run(conf());
$b->run(conf());

my $token = $a->get_token($p);
my $tother = $a->get_token($o);
my $body = '{"originalReferenceNo":"T1","latestTransactionStatus":"00"}';

# each request's X-TIMESTAMP made here, and its WIB day kept beside the
# answer: the key is looked up under the day the request was sent on
sub send_to {
    my ($node, %a) = @_;
    $a{timestamp} //= timestamp();
    my $r = $node->snap($a{partner} // $p, path => $a{path} // '/notify',
        token => $a{token} // $token, body => $body, %a);
    $r->{day} = wib_day($a{timestamp});
    return $r;
}

sub key_of {
    my ($id, $day, $prefix) = @_;
    return ($prefix // 't12:') . "8:QoinSnap:$day:$id";
}

sub ups { $a->upstream_count + $b->upstream_count }

sub redis { $a->redis_cli('-a', 's3cret-redis-pass', '--no-auth-warning',
    '-n', 2, @_) }

# the same id through node A, then node B
my $id = external_id();
my $ts0 = timestamp();
my $r = send_to($a, external_id => $id, timestamp => $ts0);
is($r->{status}, 200, 'node A accepts a new id');
my $day = $r->{day};
$r = send_to($b, external_id => $id, timestamp => $ts0);
is_snap_error($r, '4095200', 'Conflict', 'node B refuses the same id: 409');
is(ups(), 1, 'the upstreams saw it once');

# the key: prefix, partner id with its length, WIB day, id; it expires at
# the end of that day plus the skew plus 10 s, as an absolute time
my $k = key_of($id, $day);
like(redis('EXISTS', $k), qr/^1/, "the key is $k");
my ($exp) = redis('EXPIRETIME', $k) =~ /(\d+)/;
is($exp, ($day + 1) * 86400 - 7 * 3600 + 300 + 10,
    'it expires at the end of the WIB day + skew + 10 s');

# Two locations record into one zone with skews of 1 s and 600 s: the key
# lives as long as the zone keeps the day, for the larger skew, whichever
# location wrote it; a reload that raises the skew raises it for the next
# writes.  Were it the writing location's skew, a request recorded through
# the 1 s location at 23:59:56 WIB would leave Redis at 00:00:07, and its
# replay through the 600 s location, on any node, would pass.
{
    my $s = SnapTest->new;
    my $skews = sub {
        my ($third) = @_;
        my $extra = $third ? <<"EOF" : '';
        location = /longer {
            snap_verify 52;
            snap_replay ids;
            snap_clock_skew $third;
            proxy_pass http://%%UPSTREAM%%;
        }
EOF
        return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    snap_replay_zone ids:1m;
    snap_replay_redis ids 127.0.0.1:$rport password_file=$d/redis.pass db=2
                      prefix=t12s:;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /short {
            snap_verify 52;
            snap_replay ids;
            snap_clock_skew 1s;
            proxy_pass http://%%UPSTREAM%%;
        }
$extra
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location = /long {
            snap_verify 52;
            snap_replay ids;
            snap_clock_skew 600s;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    };
    $s->start_upstream;
    $s->run($skews->());
    my $tok = $s->get_token($p);
    my $sid = external_id();
    my $r = send_to($s, path => '/short', external_id => $sid, token => $tok);
    is($r->{status}, 200, 'skews: recorded through the 1 s location');
    my ($e) = redis('EXPIRETIME', key_of($sid, $r->{day}, 't12s:')) =~ /(\d+)/;
    is($e, ($r->{day} + 1) * 86400 - 7 * 3600 + 600 + 10,
        'skews: the key expires at the end of the day + 600 s + 10 s');
    $s->reload($skews->('900s'));
    $sid = external_id();
    $r = send_to($s, path => '/short', external_id => $sid, token => $tok);
    ($e) = redis('EXPIRETIME', key_of($sid, $r->{day}, 't12s:')) =~ /(\d+)/;
    is($e, ($r->{day} + 1) * 86400 - 7 * 3600 + 900 + 10,
        'skews: after a reload to 900 s, + 900 s + 10 s');
    $s->reload($skews->());
    $sid = external_id();
    $r = send_to($s, path => '/short', external_id => $sid, token => $tok);
    ($e) = redis('EXPIRETIME', key_of($sid, $r->{day}, 't12s:')) =~ /(\d+)/;
    is($e, ($r->{day} + 1) * 86400 - 7 * 3600 + 900 + 10,
        'skews: and still after a reload back: the zone keeps days for it');
    $s->stop;
    $s->stop_upstream;
    $s->check_log;
}

# another partner may use the same id
$r = send_to($b, external_id => $id, partner => $o, token => $tother);
is($r->{status}, 200, 'the same id from another partner passes');

# a forged request writes nothing
my $forged = external_id();
$r = send_to($a, external_id => $forged, secret => 'wrong');
is_snap_error($r, '4015200', 'Unauthorized. [Signature]', 'a forged request');
like(redis('EXISTS', key_of($forged, $r->{day})), qr/^0/,
    'and nothing of it in Redis');

# 300 identical requests, spread over both nodes and their workers
my $storm = external_id();
my $storm_ts = timestamp();
my $before = ups();
my @kids;
my $dir = $a->dir;
for my $i (1 .. 300) {
    my $pid = fork // die;
    if ($pid == 0) {
        my $r = send_to($i % 2 ? $a : $b, external_id => $storm,
            timestamp => $storm_ts);
        open my $fh, '>', "$dir/storm.$i";
        print $fh $r->{status};
        close $fh;
        exit 0;
    }
    push @kids, $pid;
    if (@kids >= 50) { waitpid shift @kids, 0 }
}
waitpid $_, 0 for @kids;
my %st;
$st{$a->read_file("storm.$_")}++ for 1 .. 300;
is($st{200}, 1, '300 identical requests over two nodes: exactly one passes')
    or diag(explain \%st);
is($st{409}, 299, 'the others get 409');
is(ups() - $before, 1, 'the upstreams saw one');

# release_on_failure: the upstream is down on node A, the retry passes on B
$id = external_id();
my $ts = timestamp();
$r = send_to($a, path => '/down', external_id => $id, timestamp => $ts);
is_snap_error($r, '5005202', 'External Server Error', 'the upstream is down');
for (1 .. 100) {
    last if redis('EXISTS', key_of($id, $r->{day})) =~ /^0/;
    sleep 0.05;
}
like(redis('EXISTS', key_of($id, $r->{day})), qr/^0/,
    'release_on_failure forgot the id in Redis too');
$r = send_to($b, external_id => $id, timestamp => $ts);
is($r->{status}, 200, 'so the retry passes on node B');

# Redis stopped: every request answered within the timeout, 500xx00
kill 'STOP', $a->redis_pid;
my $t0 = time;
$r = send_to($a, external_id => external_id());
my $took = time - $t0;
is_snap_error($r, '5005200', 'General Error',
    'Redis stopped, on_error=closed: 500xx00');
cmp_ok($took, '<', 3, "answered in ${\ sprintf '%.2f', $took} s, not left "
    . 'waiting');
like($a->read_file('error.log'), qr/redis 127\.0\.0\.1:\d+ did not answer/,
    'the error log says Redis did not answer');
$before = ups();
for (1 .. 5) {
    $r = send_to($b, external_id => external_id());
    is($r->{json}{responseCode}, '5005200', "node B refuses too ($_)");
}
is(ups(), $before, 'and nothing reached the upstreams');

# node B falls back to its zone alone with on_error=local
$b->reload(conf(on_error => 'local'));
$id = external_id();
$r = send_to($b, external_id => $id);
is($r->{status}, 200, 'on_error=local: a new id passes on the node\'s zone');
$r = send_to($b, external_id => $id);
is_snap_error($r, '4095200', 'Conflict',
    'on_error=local: a same-node duplicate is still 409');
like($b->read_file('error.log'), qr/\[warn\].*on_error=local/,
    'one warn line says so');
kill 'CONT', $a->redis_pid;

# Redis killed and started again: requests pass again without a reload
$b->reload(conf());
$a->stop_redis;
$r = send_to($a, external_id => external_id());
is($r->{json}{responseCode}, '5005200', 'Redis gone: 500xx00');
$a->start_redis(password => 's3cret-redis-pass');
my $ok = 0;
for (1 .. 50) {
    $r = send_to($a, external_id => external_id());
    if ($r->{status} == 200) { $ok = 1; last }
    sleep 0.2;
}
ok($ok, 'Redis back: requests pass again within seconds, no reload');
$ok = 0;
for (1 .. 50) {
    $r = send_to($b, external_id => external_id());
    if ($r->{status} == 200) { $ok = 1; last }
    sleep 0.2;
}
ok($ok, 'on both nodes');

# a wrong password: a clear log line and 500xx00, never a pass
$b->reload(conf(pass => "$d/wrong.pass"));
$ok = 1;
for (1 .. 5) {
    $r = send_to($b, external_id => external_id());
    $ok = 0 unless $r->{json} && $r->{json}{responseCode} eq '5005200';
    sleep 0.1;
}
ok($ok, 'a wrong Redis password: 500xx00 on every request');
like($b->read_file('error.log'),
    qr/redis 127\.0\.0\.1:\d+ refused the connection's AUTH or SELECT: "WRONGPASS/,
    'the error log names the refusal');
unlike($b->read_file('error.log'), qr/s3cret|not-the-password/,
    'and never the password');

# an ACL user: AUTH user password
$a->write_file('acl.pass', "acl-user-pass\n");
like(redis('ACL', 'SETUSER', 'snapuser', 'on', '>acl-user-pass', '~t12:*',
    '+set', '+get', '+del', '+eval', '+select', '+ping'), qr/OK/,
    'an ACL user for the store');
(my $acl = conf(pass => "$d/acl.pass")) =~ s/password_file=/user=snapuser password_file=/;
$b->reload($acl);
$r = send_to($b, external_id => external_id());
for (1 .. 10) {
    last if $b->read_file('error.log') =~ /refused ROLE/;
    sleep 0.1;
    $r = send_to($b, external_id => external_id());
}
is_snap_error($r, '5005200', 'General Error',
    'an ACL user without +role: the primary cannot be confirmed, 500xx00');
like($b->read_file('error.log'),
    qr/redis 127\.0\.0\.1:\d+ refused ROLE: "NOPERM[^"]*" \(zone "ids"\): the user needs \+role/,
    'and the error log says what the user needs');
like(redis('ACL', 'SETUSER', 'snapuser', '+role'), qr/OK/, 'given +role');
$ok = 0;
for (1 .. 20) {
    $r = send_to($b, external_id => external_id());
    if ($r->{status} == 200) { $ok = 1; last }
    sleep 0.2;
}
ok($ok, 'user= and password_file=: an ACL user writes the ids');

# 20 reloads of node A under load: no request fails, no id is lost
$b->reload(conf());
$a->reload(conf());
my $load = $a->dir . '/load';
my $pid = fork // die;
if ($pid == 0) {
    open my $fh, '>', $load;
    my $n = 0;
    my $until = time + 8;
    while (time < $until && $n < 400) {
        my $id = "reload-$$-" . ++$n;
        my $ts = timestamp();
        my $r = send_to($a, external_id => $id, timestamp => $ts);
        print $fh "$r->{status} $id $r->{day} $ts\n";
    }
    close $fh;
    exit 0;
}
for (1 .. 20) {
    $a->reload(conf());
    sleep 0.1;
}
waitpid $pid, 0;
my @lines = split /\n/, $a->read_file('load');
my @bad = grep { !/^200 / } @lines;
cmp_ok(scalar @lines, '>', 20, scalar(@lines) . ' requests during 20 reloads');
is(scalar @bad, 0, 'none failed') or diag(join "\n", @bad[0 .. 4]);
my @lost = grep {
    my ($id, $d) = /^200 (\S+) (\d+) /;
    $id &&
    redis('EXISTS', key_of($id, $d)) !~ /^1/;
} @lines;
is(scalar @lost, 0, 'every id accepted is in Redis');

# A request a worker accepted before a reload and reads after it: the old
# worker has closed its idle Redis connection by then, and connects again
# for it instead of failing it.
{
    my $id = external_id();
    my $ts = timestamp();
    my $headers = $a->snap_headers($p, path => '/notify', token => $token,
        body => $body, external_id => $id, timestamp => $ts);
    my $raw = SnapTest::raw_request('POST', '/notify', $headers, $body);
    my $cut = length($raw) - 5;
    my $s = IO::Socket::INET->new(Proto => 'tcp',
        PeerAddr => '127.0.0.1:' . $a->port(0)) or die "connect: $!";
    $s->autoflush(1);
    print $s substr($raw, 0, $cut);
    sleep 0.3;
    kill 'HUP', $a->pid;
    sleep 1.5;
    print $s substr($raw, $cut);
    my $r = SnapTest::parse_response(SnapTest::_read_all($s, 8));
    is($r->{status}, 200, 'a request read by a worker that is quitting: 200');
    like(redis('EXISTS', key_of($id, wib_day($ts))), qr/^1/,
        'and its id is in Redis');
    sleep 0.5;
}

my ($one, $onets) = $lines[0] =~ /^\S+ (\S+) \d+ (\S+)$/;
$r = send_to($b, external_id => $one, timestamp => $onets);
is_snap_error($r, '4095200', 'Conflict', 'and refused on the other node');

# TLS to a Redis with a self-signed certificate
SKIP: {
    my $c = SnapTest->new;
    my $cd = $c->dir;
    system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $cd/r.key "
        . "-out $cd/r.crt -days 2 -subj /CN=redis.test "
        . "-addext subjectAltName=DNS:redis.test >/dev/null 2>&1") == 0
        or skip 'openssl could not make a certificate', 5;
    my $tport = $c->start_redis(tls => { cert => "$cd/r.crt",
        key => "$cd/r.key", name => 'redis.test' });
    skip 'this redis-server has no TLS', 5
        unless $c->redis_cli('PING') =~ /PONG/;

    my $tls = sub {
        my ($extra) = @_;
        (my $conf = conf()) =~ s{snap_replay_redis ids [^;]*;}
            {snap_replay_redis ids 127.0.0.1:$tport tls $extra;};
        return $conf;
    };
    $c->start_upstream;
    $c->run($tls->("tls_trusted_certificate=$cd/r.crt tls_name=redis.test"));
    my $tok = $c->get_token($p);
    my $id = external_id();
    my $ts = timestamp();
    $r = send_to($c, external_id => $id, token => $tok, timestamp => $ts);
    is($r->{status}, 200, 'tls: a verified certificate, the id recorded');
    like($c->redis_cli('EXISTS', key_of($id, $r->{day}, 'snap:')), qr/^1/,
        'tls: in the TLS-only Redis');
    $r = send_to($c, external_id => $id, token => $tok, timestamp => $ts);
    is_snap_error($r, '4095200', 'Conflict', 'tls: and refused the second time');

    # a certificate for another name is refused: fail closed
    $c->reload($tls->("tls_trusted_certificate=$cd/r.crt tls_name=other.test"));
    $ok = 1;
    for (1 .. 3) {
        $r = send_to($c, external_id => external_id(), token => $tok);
        $ok = 0 unless ($r->{json}{responseCode} // '') eq '5005200';
        sleep 0.2;
    }
    ok($ok, 'tls: a certificate that does not match tls_name: 500xx00');
    like($c->read_file('error.log'),
        qr/certificate does not match "other\.test"/, 'tls: and says why');

    # tls_verify=off takes it
    $c->reload($tls->("tls_verify=off"));
    $ok = 0;
    for (1 .. 20) {
        $r = send_to($c, external_id => external_id(), token => $tok);
        if ($r->{status} == 200) { $ok = 1; last }
        sleep 0.2;
    }
    ok($ok, 'tls: tls_verify=off takes any certificate');
    $c->stop;
    $c->stop_upstream;
    $c->stop_redis;
    $c->check_log;
}

# configuration
for my $case (
    [ "snap_replay_redis ids 127.0.0.1:1 colour=red;",
      qr/invalid parameter "colour=red"/, 'unknown parameter' ],
    [ "snap_replay_redis ids 127.0.0.1:1 timeout=0;",
      qr/invalid parameter "timeout=0"/, 'zero timeout' ],
    [ "snap_replay_redis ids 127.0.0.1:1; snap_replay_redis ids 127.0.0.1:2;",
      qr/zone "ids" already has a "snap_replay_redis"/, 'twice for a zone' ],
    [ "snap_replay_redis ids 127.0.0.1:1 password_file=$d/none;",
      qr/none/, 'a missing password file' ],
    [ "snap_replay_redis ids 127.0.0.1:1 user=snap;",
      qr/"user=" needs "password_file="/, 'a user without a password' ],
    [ "snap_replay_redis ids 127.0.0.1:1 tls;",
      qr/give one, or "tls_verify=off"/, 'tls without a trusted certificate' ],
    [ "snap_replay_redis ids 127.0.0.1:1 tls_name=x;",
      qr/need "tls"/, 'tls_name without tls' ],
    [ "snap_replay_redis ids 127.0.0.1:1 tls tls_trusted_certificate=$d/none;",
      qr/none/, 'a missing trusted certificate' ],
    [ "snap_replay_redis ids timeout=200ms;",
      qr/"snap_replay_redis" needs an ADDRESS/, 'no ADDRESS' ],
    [ "snap_replay_redis ids 127.0.0.1:1 sentinel_user=s;",
      qr/"sentinel_user=" and "sentinel_password_file=" need "sentinel="/,
      'a Sentinel user without sentinel=' ],
    [ "snap_replay_redis ids 127.0.0.1:1 sentinel=m sentinel_user=s;",
      qr/"sentinel_user=" needs "sentinel_password_file="/,
      'a Sentinel user without a password' ],
    [ "snap_replay_redis ids 127.0.0.1:1 sentinel=m sentinel_password_file=$d/none;",
      qr/none/, 'a missing Sentinel password file' ],
    [ "snap_replay_redis ids 127.0.0.1:1 sentinel=m tls tls_trusted_certificate=$d/redis.pass;",
      qr/"tls" with "sentinel=" checks the primary's certificate against "tls_name="; give it/,
      'tls with sentinel= and no tls_name=' ],
    [ "snap_replay_redis ids 127.0.0.1:1 wait=x;",
      qr/invalid parameter "wait=x"/, 'a wait= that is no number' ],
    [ "snap_replay_redis ids 127.0.0.1:1 unix:/tmp/r.sock tls tls_verify=off;",
      qr/"tls" is for host:port addresses/, 'tls with a unix socket' ],
) {
    my $t = SnapTest->new;
    $t->config_fails(<<"EOF", $case->[1], $case->[2]);
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    snap_replay_zone ids:1m;
    $case->[0]
    server { listen 127.0.0.1:%%PORT%%; location / { snap_verify 52; snap_replay ids; } }
EOF
}

# the zone behind Redis is mapped in every worker from its start, as a
# zone alone is: no request pays a page's first-use fault
{
    my $m = SnapTest->new;
    $m->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_replay_zone behind:6m;
    snap_replay_redis behind 127.0.0.1:$rport password_file=$d/redis.pass
                      prefix=t12m:;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay behind;
            return 204;
        }
    }
EOF
    my $said = 0;
    for (1 .. 100) {
        $said = () = $m->read_file('error.log')
            =~ /\[info\].*snap: replay zones mapped in \d+ ms/g;
        last if $said >= 2;
        sleep 0.1;
    }
    is($said, 2, 'a zone behind Redis: each worker maps it');
    for my $pid ($m->worker_pids) {
        open my $fh, '<', "/proc/$pid/smaps" or die "smaps of $pid: $!";
        my ($rss, $in);
        while (<$fh>) {
            if (/^[0-9a-f]+-[0-9a-f]+ (\S+)/) {
                $in = $1 eq 'rw-s';
            } elsif ($in && /^Size:\s+(\d+) kB/) {
                $in = $1 == 6144;
            } elsif ($in && /^Rss:\s+(\d+) kB/) {
                $rss = $1;
            }
        }
        is($rss, 6144, "worker $pid: all 6144 kB of the zone resident");
    }
    $m->stop;
    $m->check_log;
}

# a full node zone behind Redis is a full cache: Redis decides alone,
# replays are still refused; with on_error=local and Redis gone, a full
# zone cannot decide and refuses
{
    my $f = SnapTest->new(workers => 1);
    $f->start_upstream;
    $f->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_replay_zone small:32k;
    snap_replay_redis small 127.0.0.1:$rport password_file=$d/redis.pass
                      prefix=t12f:;
    snap_replay_zone lonely:32k;
    snap_replay_redis lonely 127.0.0.1:1 on_error=local timeout=100ms;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay small;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /local {
            snap_verify 52 signature=rsa;
            snap_replay lonely;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    my ($ok, $n, $first) = (0, 0);
    for (1 .. 3000) {
        my $id = external_id();
        $first //= $id;
        my $r = $f->snap($p, path => '/notify', body => $body,
            external_id => $id);
        $n++;
        $ok++ if $r->{status} == 200;
        last if $f->read_file('error.log') =~ /is full with/;
    }
    like($f->read_file('error.log'),
        qr/\[warn\].*snap: replay zone "small" is full with \d+ live ids; its redis store decides alone until ids expire/,
        'a full zone behind Redis: a warn line, no crit');
    my $more = 0;
    for (1 .. 5) {
        my $r = $f->snap($p, path => '/notify', body => $body,
            external_id => external_id());
        $more++ if $r->{status} == 200;
    }
    is($more, 5, 'new ids are still accepted: Redis decides');
    is($ok, $n, "all $n requests accepted while it filled");
    my $r = $f->snap($p, path => '/notify', body => $body,
        external_id => $first);
    is($r->{status}, 409, 'and a replay is still refused')
        or diag($r->{raw});

    my $full = 0;
    for (1 .. 600) {
        my $r = $f->snap($p, path => '/local', body => $body,
            external_id => external_id());
        if (($r->{json}{responseCode} // '') eq '5005200') { $full = 1; last }
    }
    ok($full, 'on_error=local, Redis gone, the zone full: refused (500xx00)');
    like($f->read_file('error.log'),
        qr/snap: redis zone "lonely" .* and the node's zone is full, request refused/,
        'saying why');
    $f->stop;
    $f->stop_upstream;
    $f->check_log;
}

$b->stop;
$b->stop_upstream;
$b->check_log;
$a->done;
