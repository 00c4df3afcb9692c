#!/usr/bin/perl

# Under load: 20 reloads lose no valid request and no replay entry; storms
# of distinct and identical ids across two workers.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::INET;
use IO::Handle;
use POSIX ();
use Time::HiRes qw(sleep time);
use SnapTest;

my $t = SnapTest->new(workers => 2);
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');

my $http = <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    snap_replay_zone ids:4m;
    access_log off;

    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /notify {
            snap_verify 52;
            snap_replay ids;
            proxy_pass http://127.0.0.1:%%PORT_1%%;
        }
    }

    server {
        listen 127.0.0.1:%%PORT_1%%;
        location / { return 200 '{"responseCode":"2005200"}'; }
    }
EOF

$t->run($http);
my $token = $t->get_token($p);
my $body = '{"originalReferenceNo":"T1"}';

# two loaders, each sending valid notifications with fresh ids until the
# parent, which reloads nginx 20 times meanwhile, tells them to stop
my $per = 20000;
my $stop = $t->dir . '/stop';
my @kids;
for my $k (1 .. 2) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open my $fh, '>', $t->dir . "/load-$k" or die;
        $fh->autoflush(1);
        for my $i (1 .. $per) {
            last if -e $stop;
            my $id = "load-$k-$i";
            my $r = $t->snap($p, path => '/notify', token => $token,
                body => $body, external_id => $id);
            print $fh "$id $r->{status}\n";
        }
        close $fh;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

sub progress {
    my $n = 0;
    $n += () = $t->read_file("load-$_") =~ /\n/g for 1 .. 2;
    return $n;
}

sleep 0.2;
my $reloads = 0;
my $at_first = progress();
while ($reloads < 20) {
    $t->reload;
    $reloads++;
}
my $at_last = progress();
$t->write_file('stop', '');
waitpid $_, 0 for @kids;
is($reloads, 20, '20 reloads');
my $total = progress();
ok($at_first > 0 && $at_last > $at_first && $total > $at_last,
    "the reloads ran while the load did (answered: $at_first at the first, "
    . "$at_last at the last, $total in all)");

my (%status, @ids);
for my $k (1 .. 2) {
    for (split /\n/, $t->read_file("load-$k")) {
        my ($id, $st) = split / /;
        $status{$st}++;
        push @ids, $id;
    }
}
is(scalar @ids, $total, 'every request was answered');
is($status{200}, $total, 'no valid request failed across the reloads')
    or diag(explain \%status);

# every id recorded before, during and after the reloads is still there
my $lost = 0;
for my $id (@ids) {
    my $r = $t->snap($p, path => '/notify', token => $token, body => $body,
        external_id => $id);
    $lost++ unless $r->{status} == 409;
}
is($lost, 0, 'no replay entry was lost across 20 reloads');

# a storm of 200 distinct ids on concurrent connections: all pass
sub storm {
    my (@raw) = @_;
    my @socks = map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $t->port) or die $!
    } @raw;
    syswrite $socks[$_], $raw[$_] for 0 .. $#raw;
    my (%buf, %st);
    my $sel = IO::Select->new(@socks);
    my $deadline = time + 30;
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread $s, $buf{$s}, 65536, length($buf{$s} // '');
            next if $n;
            $sel->remove($s);
            my ($code) = ($buf{$s} // '') =~ m{^HTTP/1\.1 (\d+)};
            $st{$code // 'none'}++;
            close $s;
        }
    }
    return \%st;
}

sub raw_for {
    my ($id) = @_;
    my $h = $t->snap_headers($p, path => '/notify', token => $token,
        body => $body, external_id => $id);
    return SnapTest::raw_request('POST', '/notify', $h, $body);
}

my $st = storm(map { raw_for("distinct-$_") } 1 .. 200);
is($st->{200}, 200, 'storm of 200 distinct ids: all pass');

# and three storms of identical ids: one each
for my $n (1 .. 3) {
    my $raw = raw_for("same-$n");
    $st = storm(($raw) x 100);
    ok($st->{200} == 1 && $st->{409} == 99,
        "storm $n of 100 identical requests: one passes, 99 get 409")
        or diag(explain $st);
}

$t->done;
