package SnapRedisHA;

# Redis as production runs it, on loopback: Debian's redis-server as a
# primary and its replicas, three of Debian's redis-sentinel watching them,
# and a DNS responder of the harness's own whose answers a test changes as
# a managed Redis moves its name.  Every process is the test's child and
# dies with it.

use strict;
use warnings;

use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

use SnapTest;

sub new {
    my ($class, $t, %o) = @_;
    my $self = bless {
        t => $t,
        dir => $t->dir . '/' . ($o{name} // 'ha'),
        master => $o{master} // 'mymaster',
        servers => {},
        sentinels => [],
    }, $class;
    mkdir $self->{dir};
    return $self;
}

sub dir { $_[0]{dir} }
sub master { $_[0]{master} }

# A port free on every loopback address given (127.0.0.1 by default).
sub free_port {
    my (@ips) = @_;
    @ips = ('127.0.0.1') unless @ips;
    for (1 .. 50) {
        my $port = SnapTest::free_port();
        my $ok = 1;
        for my $ip (@ips) {
            my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => $ip,
                LocalPort => $port, Proto => 'tcp', ReuseAddr => 1);
            $ok = 0, last unless $s;
            close $s;
        }
        return $port if $ok;
    }
    die "no port free on @ips\n";
}

# A redis-server on ip:port (127.0.0.1, a free port); replicaof => port
# makes it a replica of that one.  Returns its name, "ip:port".
sub server {
    my ($self, %o) = @_;
    my $ip = $o{ip} // '127.0.0.1';
    my $port = $o{port} // free_port($ip);
    my $name = "$ip:$port";
    my $dir = "$self->{dir}/redis-$ip-$port";
    mkdir $dir;
    my @args = ('--bind', $ip, '--port', $port, '--dir', $dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no',
        '--logfile', "$dir/redis.log", '--enable-debug-command', 'yes',
        @{$o{args} || []});
    push @args, '--replicaof', split(/:/, $o{replicaof}) if $o{replicaof};
    $self->{servers}{$name} = { ip => $ip, port => $port, dir => $dir,
        args => \@args };
    $self->start($name);
    return $name;
}

sub start {
    my ($self, $name) = @_;
    my $s = $self->{servers}{$name};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        POSIX::setsid();
        { exec '/usr/bin/redis-server', @{$s->{args}} }
        POSIX::_exit(127);
    }
    $s->{pid} = $pid;
    for (1 .. 100) {
        last if ($self->cli($name, 'PING') // '') =~ /PONG|LOADING/;
        sleep 0.05;
    }
    return $pid;
}

sub pid { $_[0]{servers}{$_[1]}{pid} }
sub port_of { (split /:/, $_[1])[1] }

# redis-cli against ip:port
sub cli {
    my ($self, $name, @args) = @_;
    my ($ip, $port) = split /:/, $name;
    my $q = join ' ', map { "'$_'" } @args;
    return scalar `redis-cli -h $ip -p $port $q 2>&1`;
}

# INFO replication of a server, as a hash
sub replication {
    my ($self, $name) = @_;
    my %h = $self->cli($name, 'INFO', 'replication') =~ /^(\w+):(\S*)\r?$/mg;
    return \%h;
}

# until the replica's link to its primary is up and the primary's WAIT
# counts it: a replica that loaded the data set is streamed to only once
# its first acknowledgement reached the primary, and a write of the
# harness's own (set and deleted) proves that
sub wait_synced {
    my ($self, $replica, $timeout) = @_;
    my $deadline = time + ($timeout // 15);
    while (time < $deadline) {
        my $r = $self->replication($replica);
        if (($r->{role} // '') eq 'slave'
            && ($r->{master_link_status} // '') eq 'up')
        {
            my ($ip, $port) = @$r{qw(master_host master_port)};
            my $out = `printf 'SET snap-harness-sync 1\nDEL snap-harness-sync\nWAIT 1 500\n' | redis-cli -h $ip -p $port 2>&1`;
            return 1 if (split /\n/, $out)[-1] =~ /^\(integer\) [1-9]|^[1-9]\d*$/;
        }
        sleep 0.1;
    }
    return 0;
}

# The Redis primary a node's scrape names (snap_replay_store_primary at
# 1), '' when none.  Each worker answers a scrape with its own: until three
# scrapes in a row name $want (the workers that had no request yet
# included, $poke sending one), or what the last named.
sub node_primary {
    my ($self, $node) = @_;
    my $m = $node->scrape;
    my ($s) = grep { $_->[0] eq 'snap_replay_store_primary' && $_->[2] == 1 }
        @{$m->{samples}};
    return $s ? $s->[1]{address} : '';
}

sub node_primary_is {
    my ($self, $node, $want, $poke) = @_;
    my ($got, $n) = ('', 0);
    for (1 .. 60) {
        $got = $self->node_primary($node);
        $n = $got eq $want ? $n + 1 : 0;
        last if $n == 3;
        $poke->() unless $n;
        sleep 0.05;
    }
    return $got;
}

sub signal {
    my ($self, $sig, $name) = @_;
    my $pid = $self->{servers}{$name}{pid} or return;
    kill $sig, $pid;
    if ($sig eq 'KILL' || $sig eq 'TERM') {
        waitpid $pid, 0;
        delete $self->{servers}{$name}{pid};
    }
}

# DEBUG SLEEP on a server, from a child: the server hangs, alive
sub debug_sleep {
    my ($self, $name, $seconds) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $self->cli($name, 'DEBUG', 'SLEEP', $seconds);
        POSIX::_exit(0);
    }
    push @{$self->{children}}, $pid;
    return $pid;
}

# Three Sentinels watching the primary (quorum 2, down after $down ms).
# Returns their names.
sub sentinels {
    my ($self, $primary, %o) = @_;
    my ($pip, $pport) = split /:/, $primary;
    my $down = $o{down_after} // 2000;
    $self->{sentinel_password} = $o{password};
    for my $i (1 .. ($o{count} // 3)) {
        my $port = free_port();
        my $conf = "$self->{dir}/sentinel-$port.conf";
        open my $fh, '>', $conf or die "$conf: $!";
        print $fh "port $port\nbind 127.0.0.1\ndir $self->{dir}\n"
            . "logfile $self->{dir}/sentinel-$port.log\n"
            . ($o{password} ? "requirepass $o{password}\n" : '')
            . "sentinel monitor $self->{master} $pip $pport 2\n"
            . "sentinel down-after-milliseconds $self->{master} $down\n"
            . "sentinel failover-timeout $self->{master} 6000\n"
            . "sentinel parallel-syncs $self->{master} 1\n";
        close $fh;
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            POSIX::setsid();
            { exec '/usr/bin/redis-sentinel', $conf }
            POSIX::_exit(127);
        }
        push @{$self->{sentinels}}, { port => $port, pid => $pid };
    }
    my @names = map { "127.0.0.1:$_->{port}" } @{$self->{sentinels}};
    for my $s (@names) {
        for (1 .. 100) {
            last if ($self->sentinel_cli($s, 'PING') // '') =~ /PONG/;
            sleep 0.05;
        }
    }
    return @names;
}

sub sentinel_cli {
    my ($self, $name, @args) = @_;
    my ($ip, $port) = split /:/, $name;
    my $pass = $self->{sentinel_password};
    my $auth = $pass ? "-a '$pass' --no-auth-warning" : '';
    my $q = join ' ', map { "'$_'" } @args;
    return scalar `redis-cli $auth -h $ip -p $port $q 2>&1`;
}

# the primary as the first Sentinel sees it, "ip:port"
sub primary {
    my ($self) = @_;
    my $s = "127.0.0.1:$self->{sentinels}[0]{port}";
    my @a = split /\n/, $self->sentinel_cli($s, 'SENTINEL',
        'get-master-addr-by-name', $self->{master});
    return @a == 2 ? "$a[0]:$a[1]" : undef;
}

# until every Sentinel names another primary than $old: the moment it
# did (epoch seconds), or undef
sub wait_promotion {
    my ($self, $old, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (time < $deadline) {
        my $all = 1;
        for my $s (@{$self->{sentinels}}) {
            my @a = split /\n/, $self->sentinel_cli("127.0.0.1:$s->{port}",
                'SENTINEL', 'get-master-addr-by-name', $self->{master});
            $all = 0, last unless @a == 2 && "$a[0]:$a[1]" ne $old;
        }
        return time if $all;
        sleep 0.05;
    }
    return undef;
}

# until every Sentinel knows every replica of the primary as one
sub wait_replicas {
    my ($self, $count, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (time < $deadline) {
        my $all = 1;
        for my $s (@{$self->{sentinels}}) {
            my $out = $self->sentinel_cli("127.0.0.1:$s->{port}",
                'SENTINEL', 'REPLICAS', $self->{master});
            my $n = () = $out =~ /^master-link-status\nok$/mg;
            $all = 0, last if $n < $count;
        }
        return 1 if $all;
        sleep 0.1;
    }
    return 0;
}

##############################################################################
# DNS: A records from a file of "name ip [ip...]" lines, read on every
# query, so that a test moves a name by rewriting it; AAAA gets no record,
# an unknown name NXDOMAIN.  TTL 1 s.

sub dns {
    my ($self, %names) = @_;
    $self->dns_set(%names);
    my $port = $self->{dns_port} = SnapTest::free_port();
    my $file = "$self->{dir}/dns.txt";
    my $sock = IO::Socket::INET->new(LocalAddr => "127.0.0.1:$port",
        Proto => 'udp') or die "dns: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        POSIX::setsid();
        _dns_serve($sock, $file);
        POSIX::_exit(0);
    }
    close $sock;
    $self->{dns_pid} = $pid;
    return $port;
}

sub dns_set {
    my ($self, %names) = @_;
    my $file = "$self->{dir}/dns.txt";
    open my $fh, '>', "$file.new" or die "$file: $!";
    print $fh "$_ @{ref $names{$_} ? $names{$_} : [ $names{$_} ]}\n"
        for grep { defined $names{$_} } sort keys %names;
    close $fh;
    rename "$file.new", $file;
}

sub _dns_serve {
    my ($sock, $file) = @_;
    while (1) {
        my $from = recv($sock, my $q, 512, 0);
        next unless defined $from && length $q >= 12;
        my ($id, $flags, $qd) = unpack 'n n n', $q;
        next unless $qd == 1;
        my $pos = 12;
        my @labels;
        while ($pos < length $q) {
            my $len = ord substr $q, $pos, 1;
            $pos++;
            last if $len == 0;
            push @labels, lc substr $q, $pos, $len;
            $pos += $len;
        }
        next if $pos + 4 > length $q;
        my ($qtype) = unpack 'n', substr $q, $pos, 2;
        my $question = substr $q, 12, $pos + 4 - 12;
        my $name = join '.', @labels;

        my %table;
        if (open my $fh, '<', $file) {
            while (<$fh>) {
                my ($n, @ips) = split;
                $table{lc $n} = \@ips if defined $n;
            }
        }

        my ($rcode, @answers) = (0);
        if (!$table{$name}) {
            $rcode = 3;
        } elsif ($qtype == 1) {
            for my $ip (@{$table{$name}}) {
                push @answers, pack('n n n N n', 0xc00c, 1, 1, 1, 4)
                    . pack('C4', split /\./, $ip);
            }
        }
        my $reply = pack('n n n n n n', $id, 0x8180 | $rcode, 1,
            scalar @answers, 0, 0) . $question . join '', @answers;
        send $sock, $reply, 0, $from;
    }
}

sub dns_port { $_[0]{dns_port} }

sub stop {
    my ($self) = @_;
    for my $s (values %{$self->{servers}}) {
        next unless $s->{pid};
        kill 'CONT', $s->{pid};
        kill 'KILL', $s->{pid};
        waitpid $s->{pid}, 0;
        delete $s->{pid};
    }
    for my $s (@{$self->{sentinels}}) {
        next unless $s->{pid};
        kill 'KILL', $s->{pid};
        waitpid $s->{pid}, 0;
        delete $s->{pid};
    }
    for my $pid (@{$self->{children} || []}, $self->{dns_pid} // ()) {
        kill 'KILL', $pid;
        waitpid $pid, 0;
    }
    $self->{children} = [];
    delete $self->{dns_pid};
}

sub DESTROY { $_[0]->stop }

1;
