#!/usr/bin/perl

# X-EXTERNAL-ID same-day replay rejection in shared memory.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IO::Select;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $q = $t->partner('Second');
my $key = $t->token_key('token.key');
my $down = SnapTest::free_port();

my $http = <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_client Second public_key=$q->{pem} secret_file=$q->{secret_file};
    snap_token_key $key;
    snap_replay_zone ids:1m;
    snap_clock_skew 3d;

    server {
        listen 127.0.0.1:%%PORT%%;

        location = /token {
            snap_token;
        }

        location = /notify {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /numeric {
            snap_verify 52;
            snap_replay ids numeric;
            proxy_pass http://%%UPSTREAM%%;
        }

        location = /down-release {
            snap_verify 52;
            snap_replay ids release_on_failure;
            proxy_pass http://127.0.0.1:$down;
        }

        location = /down-keep {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://127.0.0.1:$down;
        }
    }
EOF

$t->start_upstream;
$t->run($http);

my $tp = $t->get_token($p);
my $tq = $t->get_token($q);
my $body = '{"originalReferenceNo":"T1"}';

my $t1 = int time;
my $r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1', timestamp => timestamp_at($t1));
is($r->{status}, 200, 'first use passes');
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1');
is_snap_error($r, '4095200', 'Conflict', 'second use the same day: 409');
is(scalar(grep { $_->{headers}{'x-external-id'} eq 'dup-1' }
    $t->upstream_requests), 1, 'the upstream saw only the first');

$r = $t->snap($q, path => '/notify', token => $tq, body => $body,
    external_id => 'dup-1');
is($r->{status}, 200, 'the same id from another partner passes');

# another WIB day (snap_clock_skew 3d lets yesterday through)
my $yesterday = timestamp(-86400);
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1', timestamp => $yesterday);
is($r->{status}, 200, 'the same id on another day passes');
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1', timestamp => $yesterday);
is_snap_error($r, '4095200', 'Conflict', 'and is recorded for that day');

# the same day written in another offset is the same day: the moment dup-1
# was first sent, in UTC
my $now = $t1;
my $wib_day = strftime('%Y-%m-%d', gmtime($now + 7 * 3600));
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1', timestamp => timestamp_at($now, 'Z'));
is_snap_error($r, '4095200', 'Conflict',
    "a UTC timestamp on WIB day $wib_day is the same day");

# a forged request does not use up the id
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'forged-1', secret => 'wrong');
is_snap_error($r, '4015200', 'Unauthorized. [Signature]', 'forged request');
$r = $t->snap($p, path => '/notify', token => $tp, body => '{bad json',
    external_id => 'forged-1');
is_snap_error($r, '4005200', 'Bad Request', 'bad body');
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'forged-1');
is($r->{status}, 200, 'the id is still free for the real partner');

# formats
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => '5f0e2c8a-1b7e-4c1a-9d5e-2f9c3b4a1e7d');
is($r->{status}, 200, 'a UUID (36 characters) is accepted');
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => '5f0e2c8a-1b7e-4c1a-9d5e-2f9c3b4a1e7d0');
is_snap_error($r, '4005201', 'Invalid Field Format X-EXTERNAL-ID', '37 characters');
$r = $t->snap($p, path => '/numeric', token => $tp, body => $body,
    external_id => 'abc-123');
is_snap_error($r, '4005201', 'Invalid Field Format X-EXTERNAL-ID',
    'numeric: letters refused');
$r = $t->snap($p, path => '/numeric', token => $tp, body => $body,
    external_id => '41807553358950093184162180797837');
is($r->{status}, 200, 'numeric: digits accepted');

# release_on_failure: the upstream is down, the retry is not a replay
$r = $t->snap($p, path => '/down-release', token => $tp, body => $body,
    external_id => 'retry-1');
is_snap_error($r, '5005202', 'External Server Error',
    'upstream down: 5005202');
$r = $t->snap($p, path => '/down-release', token => $tp, body => $body,
    external_id => 'retry-1');
is_snap_error($r, '5005202', 'External Server Error',
    'release_on_failure: the retry is let through again');
$r = $t->snap($p, path => '/down-keep', token => $tp, body => $body,
    external_id => 'retry-2');
is_snap_error($r, '5005202', 'External Server Error',
    'upstream down without the option');
$r = $t->snap($p, path => '/down-keep', token => $tp, body => $body,
    external_id => 'retry-2');
is_snap_error($r, '4095200', 'Conflict', 'by default the id stays used');

# release_on_failure releases before the answer goes out: a partner that
# retries the moment the 5xx status line arrives, while the app's answer is
# still being sent, is let through.  The app here sends its 503's head, and
# the rest of its body 3 s later.
{
    my $slow = SnapTest::free_port();
    my $srv = IO::Socket::INET->new(Listen => 8, LocalAddr => "127.0.0.1:$slow",
        Proto => 'tcp', ReuseAddr => 1) or die "slow: $!";
    my $pid = fork // die;
    if ($pid == 0) {
        while (my $c = $srv->accept) {
            SnapTest::_read_request($c);
            syswrite $c, "HTTP/1.1 503 Busy\r\nContent-Type: application/json"
                . "\r\nContent-Length: 20\r\n\r\n{\"responseC";
            sleep 3;
            syswrite $c, "ode\":1}";
            close $c;
        }
        POSIX::_exit(0);
    }
    close $srv;
    my $s = SnapTest->new;
    my $sp = $s->partner('QoinSnap');
    $s->start_upstream;
    $s->run(<<"EOF");
    snap_client QoinSnap public_key=$sp->{pem} secret_file=$sp->{secret_file};
    snap_replay_zone ids:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /slow {
            snap_verify 52 signature=rsa;
            snap_replay ids release_on_failure;
            proxy_pass http://127.0.0.1:$slow;
            # the head goes out as soon as it is made, not with the body
            postpone_output 0;
        }
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    my $ts = timestamp();
    my $h = $s->snap_headers($sp, path => '/slow', body => $body,
        external_id => 'early-1', timestamp => $ts);
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $s->port)
        or die "connect: $!";
    print $c SnapTest::raw_request('POST', '/slow', $h, $body);
    my $head = '';
    my $sel = IO::Select->new($c);
    while ($head !~ /\r\n\r\n/ && $sel->can_read(2)) {
        sysread($c, $head, 4096, length $head) or last;
    }
    like($head, qr{^HTTP/1\.1 503 }, 'the app\'s 503 head arrives first');
    my $r = $s->snap($sp, path => '/notify', body => $body,
        external_id => 'early-1', timestamp => $ts);
    is($r->{status}, 200, 'a retry sent on the 503\'s head, its body still '
        . 'coming: the id was released before the answer went out');
    close $c;
    kill 'TERM', $pid;
    waitpid $pid, 0;
    $s->stop;
    $s->stop_upstream;
    $s->check_log;
}

# a storm of 200 identical requests on separate connections, 2 workers
my $hdrs = $t->snap_headers($p, path => '/notify', token => $tp, body => $body,
    external_id => 'storm-1');
my $raw = SnapTest::raw_request('POST', '/notify', $hdrs, $body);
my @socks = map {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die $!
} 1 .. 200;
syswrite $_, $raw for @socks;
my %status;
my $sel = IO::Select->new(@socks);
my %buf;
my $deadline = time + 20;
while ($sel->count && time < $deadline) {
    for my $s ($sel->can_read(1)) {
        my $n = sysread $s, $buf{$s}, 65536, length($buf{$s} // '');
        next if $n;
        $sel->remove($s);
        my ($st) = ($buf{$s} // '') =~ m{^HTTP/1\.1 (\d+)};
        $status{$st // 'none'}++;
        close $s;
    }
}
is($status{200}, 1, 'storm: exactly one request passes');
is($status{409}, 199, 'storm: the other 199 get 409');
is(scalar(grep { $_->{headers}{'x-external-id'} eq 'storm-1' }
    $t->upstream_requests), 1, 'storm: the upstream saw one');
my %pids;
$pids{$1}++ for $t->read_file('error.log') =~ /\[error\] (\d+)#\d+: \*\d+ snap: request rejected with 4095200/g;
cmp_ok(scalar(keys %pids), '>=', 1, 'rejections logged by '
    . scalar(keys %pids) . ' worker(s)');

# entries survive a reload
$t->reload;
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1');
is_snap_error($r, '4095200', 'Conflict', 'entries survive nginx -s reload');

# a size change starts an empty zone (documented)
$t->reload($http =~ s/ids:1m/ids:2m/r);
$r = $t->snap($p, path => '/notify', token => $tp, body => $body,
    external_id => 'dup-1');
is($r->{status}, 200, 'a new zone size starts empty');

$t->stop;
$t->check_log;

# A tiny zone, at the end of a WIB day (libfaketime): it fills, refuses
# with 500xx00 and one crit line, and accepts again after midnight + skew.
SKIP: {
    my $lib = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
    skip 'libfaketime not installed', 7 unless -e $lib;
    # libfaketime deadlocks the sanitizer runtime while it starts
    skip 'libfaketime under make test-asan', 7 if $SnapTest::PRELOAD;

    my $f = SnapTest->new(workers => 1);
    $f->{partners} = $t->{partners};
    $f->write_file('token.key', $t->read_file('token.key'));
    my $real = time;
    # 23:59:48 WIB
    my $start = strftime('%Y-%m-%d 16:59:48', gmtime($real));
    my $off;
    {
        local $ENV{TZ} = 'UTC';
        POSIX::tzset();
        my @g = gmtime $real;
        $off = POSIX::mktime(48, 59, 16, $g[3], $g[4], $g[5]) - $real;
        POSIX::tzset();
    }

    $f->start_upstream;
    # workers keep FAKETIME: libfaketime reads it again every few seconds
    my %env = (LD_PRELOAD => $lib, FAKETIME => "\@$start");
    $f->run(<<"EOF", env => \%env, main => "env FAKETIME;\n");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key @{[ $f->dir ]}/token.key;
    snap_replay_zone tiny:32k;
    snap_clock_skew 3s;

    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /notify {
            snap_verify 52;
            snap_replay tiny;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    $f->allow_log(qr/\[crit\].*replay zone "tiny" is full/);

    my $tok = $f->get_token($p, timestamp => timestamp($off + time - $real));
    my ($passed, $full, $n) = (0, undef, 0);
    while ($n++ < 2000) {
        my $r = $f->snap($p, path => '/notify', token => $tok, body => $body,
            external_id => "fill-$n", timestamp => timestamp($off));
        if ($r->{status} == 200) { $passed++; next }
        $full = $r;
        last;
    }
    ok($passed > 10, "the tiny zone took $passed ids");
    is_snap_error($full, '5005200', 'General Error', 'a full zone answers 5005200');
    for (1 .. 3) {
        $f->snap($p, path => '/notify', token => $tok, body => $body,
            external_id => "more-$_", timestamp => timestamp($off));
    }
    my @crit = $f->read_file('error.log') =~ /(\[crit\].*is full)/g;
    is(scalar @crit, 1, 'one crit line for the burst, not one per request');

    # wait for 00:00:16 WIB on the fake clock: midnight + skew + the zone's
    # 10 s margin has passed
    my $wait = 28 - (time - $real);
    sleep $wait if $wait > 0;
    $r = $f->snap($p, path => '/notify', token => $tok, body => $body,
        external_id => 'next-day-1', timestamp => timestamp($off));
    is($r->{status}, 200, 'after midnight + skew + margin the ended day is reclaimed')
        or diag($r->{raw});
    my $ok = 1;
    for (2 .. 5) {
        my $r = $f->snap($p, path => '/notify', token => $tok, body => $body,
            external_id => "next-day-$_", timestamp => timestamp($off));
        $ok = 0 unless $r->{status} == 200;
    }
    ok($ok, 'and keeps accepting');
    unlike($f->read_file('error.log'), qr/\[alert\]/, 'no alert');
    like($f->read_file('error.log'), qr/\[crit\].*is full with \d+ live ids, requests are refused until ids expire; a resized zone starts empty and would take the day's replays again: declare a larger zone under a new name beside this one/,
        'the crit line says how many ids are live, and how to grow it '
        . 'safely');
    $f->stop;
    $f->stop_upstream;
    $f->check_log;
}

# Each worker maps every page of a replay zone from its start on, a few
# between events, so that no request pays a page's first-use fault: once
# each has said so, the 8 MB zone is resident in every worker.
{
    my $m = SnapTest->new;
    my $mp = $m->partner('QoinSnap');
    $m->run(<<"EOF");
    snap_client QoinSnap public_key=$mp->{pem} secret_file=$mp->{secret_file};
    snap_replay_zone mapped:8m;
    snap_replay_zone other:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay mapped;
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
    is($said, 2, 'each worker says when its zones are mapped');
    my @workers = $m->worker_pids;
    is(scalar @workers, 2, 'two workers');
    for my $pid (@workers) {
        open my $fh, '<', "/proc/$pid/smaps" or die "smaps of $pid: $!";
        my ($rss, $in);
        while (<$fh>) {
            # the zone's mapping: shared, writable, 8192 kB
            if (/^[0-9a-f]+-[0-9a-f]+ (\S+)/) {
                $in = $1 eq 'rw-s';
            } elsif ($in && /^Size:\s+(\d+) kB/) {
                $in = $1 == 8192;
            } elsif ($in && /^Rss:\s+(\d+) kB/) {
                $rss = $1;
            }
        }
        is($rss, 8192,
            "worker $pid: all 8192 kB of the zone resident");
    }
    $m->stop;
    $m->check_log;
}

# A worker killed while it holds the zone's lock: nginx's master releases
# the locks of the shared memory pools it knows of (and says so at alert),
# so the other workers go on recording.  A lock of the module's own would
# stay held by the dead worker and stop every other one.
SKIP: {
    my $k = SnapTest->new;
    my $kp = $k->partner('QoinSnap');
    $k->run(<<"EOF");
    snap_client QoinSnap public_key=$kp->{pem} secret_file=$kp->{secret_file};
    snap_replay_zone locked:1m;

    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        location = /notify {
            snap_verify 52 signature=rsa;
            snap_replay locked;
            proxy_pass http://127.0.0.1:%%PORT_1%%;
        }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 204; }
    }
EOF
    $k->allow_log(qr/\[alert\].*(shared memory zone "locked" was locked by|exited on signal 9)/);
    my @w = $k->worker_pids;
    is(scalar @w, 2, 'two workers');
    my $send = sub {
        my ($id) = @_;
        my $h = $k->snap_headers($kp, path => '/notify', body => $body,
            external_id => $id);
        return SnapTest::parse_response($k->http(SnapTest::raw_request(
            'POST', '/notify', $h, $body), timeout => 3));
    };
    my $gdb = $k->gdb($w[0], 'break ngx_shmtx_unlock', 'continue', 'kill');
    skip 'gdb cannot attach to a worker here', 4 unless $gdb;

    # requests until one reaches the worker gdb holds, which then dies
    # inside the unlock, the zone's lock held
    my $killed = 0;
    for my $i (1 .. 60) {
        $send->("lock-probe-$i");
        if ($k->gdb_wait($gdb, 0.2)) { $killed = 1; last }
    }
    ok($killed, 'a worker was killed holding the replay zone\'s lock');
    for (1 .. 100) {
        last if grep { $_ != $w[0] } $k->worker_pids and $k->worker_pids == 2;
        sleep 0.05;
    }
    my $ok = 0;
    for my $i (1 .. 10) {
        my $r = $send->("after-kill-$i");
        $ok++ if $r->{status} == 204;
    }
    is($ok, 10, 'the other workers record ids on: the lock was released');
    like($k->read_file('error.log'),
        qr/\[alert\].*shared memory zone "locked" was locked by $w[0]/,
        'nginx released the lock the dead worker held');
    my $r = $send->('after-kill-1');
    is($r->{status}, 409, 'and the zone still refuses a replay');
    $k->stop;
    $k->check_log;
}

$t->done;
