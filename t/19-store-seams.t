#!/usr/bin/perl

# The seams between the replay store, its Redis client and the requests
# waiting on them: a send that fails at once never calls back from inside
# the send; a request waiting on Redis is resumed from its own connection,
# never from inside the Redis client's read loop; a request that failed
# releases what it recorded once; and a write that may have reached Redis
# before a timeout is taken back once Redis is there again, so that the
# partner's retry passes.  gdb stops a worker at the one point a race
# needs; Redis is Debian's redis-server, or, to reset a connection on cue,
# a fake of the harness's own.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);
use SnapTest;

plan skip_all => 'redis-server not installed' unless -x '/usr/bin/redis-server';
plan skip_all => 'gdb not installed' unless -x '/usr/bin/gdb';

my $t = SnapTest->new(workers => 1);
my $p = $t->partner('QoinSnap');
my $d = $t->dir;
my $body = '{"originalReferenceNo":"T1","latestTransactionStatus":"00"}';

sub conf {
    my ($rport, %o) = @_;
    my $extra = $o{extra} // '';
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_replay_zone ids:1m;
    snap_replay_redis ids 127.0.0.1:$rport timeout=300ms $extra;
    snap_metrics_zone metrics:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay ids release_on_failure;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF
}

sub notify {
    my ($node, %a) = @_;
    return $node->snap($p, path => '/notify', body => $body, %a);
}

##############################################################################
# 1. a send that fails at once (the connection reset, not yet read): the
# command's callback runs later, from an event, never inside the send, so
# nothing it touches is left unset

# a Redis of the harness's own: a primary's answers to ROLE and INFO, +OK
# to every other command, and every connection reset (RST) once the file
# "reset" appears
my $fport = SnapTest::free_port();
my $fake = fork // die "fork: $!";
if ($fake == 0) {
    my $srv = IO::Socket::INET->new(Listen => 16, ReuseAddr => 1,
        LocalAddr => "127.0.0.1:$fport", Proto => 'tcp') or POSIX::_exit(1);
    my $sel = IO::Select->new($srv);
    my %buf;
    while (1) {
        if (-e "$d/reset") {
            for my $c (grep { $_ != $srv } $sel->handles) {
                setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
                $sel->remove($c);
                close $c;
            }
            unlink "$d/reset";
            open my $fh, '>', "$d/was-reset";
            close $fh;
        }
        for my $h ($sel->can_read(0.02)) {
            if ($h == $srv) {
                $sel->add($srv->accept);
                next;
            }
            my $n = sysread($h, $buf{$h}, 65536, length($buf{$h} // ''));
            if (!$n) {
                $sel->remove($h);
                close $h;
                next;
            }
            # a primary's answer to ROLE and INFO, +OK to the rest
            my $out = '';
            while ($buf{$h} =~ /^\*\d+\r\n\$\d+\r\n(\w+)\r\n/mg) {
                my $cmd = uc $1;
                $out .= $cmd eq 'ROLE' ? "*3\r\n\$6\r\nmaster\r\n:0\r\n*0\r\n"
                    : $cmd eq 'INFO' ? "\$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n"
                    : "+OK\r\n";
            }
            $buf{$h} = '';
            syswrite $h, $out;
        }
    }
}

$t->start_upstream;
$t->run(conf($fport));
$t->allow_log(qr/\[alert\].*exited on signal/);
my ($w) = $t->worker_pids;

SKIP: {
    my $r = notify($t);
    is($r->{status}, 200, 'seam 1: the fake Redis answers +OK');

    my $gdb = $t->gdb($w, 'break ngx_http_snap_redis_send', 'continue',
        "shell touch $d/reset", 'shell sleep 0.5', 'delete', 'detach');
    skip 'gdb cannot attach to the worker', 4 unless $gdb;
    $r = notify($t);
    ok($t->gdb_wait($gdb, 5), 'seam 1: the worker was stopped in the send '
        . 'while the connection was reset');
    ok(-e "$d/was-reset", 'seam 1: the fake Redis reset the connection');
    is_snap_error($r, '5005200', 'General Error',
        'seam 1: the send failed at once: 500xx00, nothing passed');
    unlike($t->read_file('error.log'), qr/exited on signal/,
        'seam 1: and the worker did not crash');
    my $ok = 0;
    for (1 .. 40) {
        $r = notify($t);
        if ($r->{status} == 200) { $ok = 1; last }
        sleep 0.1;
    }
    ok($ok, 'seam 1: the next connection takes requests again');
}
$t->stop;
kill 'TERM', $fake;
waitpid $fake, 0;

##############################################################################
# Debian's redis-server from here on

my $rport = $t->start_redis;
$t->run(conf($rport));
($w) = $t->worker_pids;

##############################################################################
# 2. the request that waited on Redis is resumed from its own connection:
# the backtrace at the moment it is proxied has no Redis read handler in it

SKIP: {
    my $r = notify($t);
    is($r->{status}, 200, 'seam 2: a request through Redis passes');
    my $gdb = $t->gdb($w, 'break ngx_http_upstream_init', 'continue', 'bt',
        'delete', 'detach');
    skip 'gdb cannot attach to the worker', 3 unless $gdb;
    $r = notify($t);
    ok($t->gdb_wait($gdb, 5), 'seam 2: the worker stopped as it proxied');
    is($r->{status}, 200, 'seam 2: and passed the request on');
    my $bt = $t->read_file("gdb.$w.log");
    like($bt, qr/ngx_http_upstream_init/, 'seam 2: its backtrace was taken');
    unlike($bt, qr/ngx_http_snap_redis_read_handler/,
        'seam 2: not from inside the Redis client\'s read handler')
        or diag($bt);
}

##############################################################################
# 3. a request refused because Redis failed releases what it recorded,
# its own entry only: never the entry of a retry that another worker
# recorded since.  Two workers on one listening socket; Redis holds A's
# SET (CLIENT PAUSE) until its connection is killed, so A fails; gdb holds
# A's worker at A's release_on_failure release while B, the same id, is
# recorded by the other worker (Redis back); then A's release runs.  B's
# entry must stand: C, the same id again, is refused by the node's zone,
# without a round trip to Redis.

SKIP: {
    my $u = SnapTest->new(workers => 2);
    $u->{partners} = $t->{partners};
    $u->start_upstream;
    my $uport = $t->redis_port;
    (my $two = conf($uport)) =~ s/ids:1m/ids2:1m/;
    $two =~ s/snap_replay_redis ids (\S+)/snap_replay_redis ids2 $1 prefix=seam3:/;
    $two =~ s/snap_replay ids /snap_replay ids2 /;
    $u->run($two);
    my @w = $u->worker_pids;
    my $redis = sub { $t->redis_cli(@_) };
    my $sets = sub {
        my ($n) = $redis->('INFO', 'commandstats') =~ /cmdstat_set:calls=(\d+)/;
        return $n // 0;
    };
    my @g = map {
        $u->gdb($_, 'break ngx_http_snap_replay_release if '
            . 'r->headers_out.status >= 500', 'continue',
            'shell sleep 3', 'delete', 'detach')
    } @w;
    skip 'gdb cannot attach to the workers', 4 if grep { !$_ } @g;
    my $ts = timestamp();

    like($redis->('CLIENT', 'PAUSE', 5000, 'WRITE'), qr/OK/,
        'seam 3: Redis holds writes');
    my $a = fork // die;
    if ($a == 0) {
        my $r = notify($u, external_id => 'seam-3', timestamp => $ts);
        $u->write_file('seam3.a', $r->{json}{responseCode} // $r->{status});
        POSIX::_exit(0);
    }
    # A's SET, held (a blocked client, flags=b): its connection killed
    my $id;
    for (1 .. 40) {
        ($id) = $redis->("CLIENT", "LIST")
            =~ /^id=(\d+) .*\bflags=b\b.* cmd=set\b/m;
        last if $id;
        sleep 0.05;
    }
    $redis->('CLIENT', 'KILL', 'ID', $id) if $id;
    $redis->('CLIENT', 'UNPAUSE');
    # A's worker stops at its release: which one
    my $held;
    for (1 .. 60) {
        ($held) = grep { $u->read_file("gdb.$_.log") =~ /^Breakpoint 1,/m }
            @w;
        last if $held;
        sleep 0.05;
    }
    ok($held, 'seam 3: A failed, its worker held at its release');
    my $r = notify($u, external_id => 'seam-3', timestamp => $ts);
    is($r->{status}, 200, 'seam 3: meanwhile B, the same id, passes on the '
        . 'other worker');
    waitpid $a, 0;
    $u->gdb_wait($_, 10) for @g;
    my $before = $sets->();
    $r = notify($u, external_id => 'seam-3', timestamp => $ts);
    is_snap_error($r, '4095200', 'Conflict', 'seam 3: C, the same id: 409');
    is($sets->(), $before, 'seam 3: refused by the node\'s zone: B\'s entry '
        . 'stood after A\'s release');
    $u->stop;
    $u->stop_upstream;
    $u->check_log;
}

##############################################################################
# 4. a write sent before Redis stopped answering (a timeout) may be
# executed once Redis resumes: it is taken back (compare-and-delete on the
# request's own writer value) as soon as a connection allows, so the
# partner's retry is let through, never refused as a replay for the day

{
    my $ts = timestamp();
    kill 'STOP', $t->redis_pid;
    my $r = notify($t, external_id => 'seam-4', timestamp => $ts);
    is_snap_error($r, '5005200', 'General Error',
        'seam 4: Redis stopped: 500xx00');
    sleep 0.3;
    kill 'CONT', $t->redis_pid;
    my ($st, $tries) = (0, 0);
    for (1 .. 60) {
        $tries++;
        $r = notify($t, external_id => 'seam-4', timestamp => $ts);
        $st = $r->{status};
        last if $st == 200;
        sleep 0.2;
    }
    is($st, 200, "seam 4: the retry passes once Redis is back ($tries tries)");
    $r = notify($t, external_id => 'seam-4', timestamp => $ts);
    is_snap_error($r, '4095200', 'Conflict', 'seam 4: and then is a replay');
    like($t->read_file('error.log'),
        qr/snap: redis zone "ids" took back 1 write/,
        'seam 4: the error log says a write was taken back');
}

$t->done;
