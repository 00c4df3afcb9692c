package SnapTest;

# The project's test harness, in nginx-tests' style: a temp prefix per test
# file, free loopback ports, the real /usr/sbin/nginx with the built module,
# a recording upstream, and a SNAP client.  Core Perl plus
# Crypt::OpenSSL::RSA only.

use strict;
use warnings;

use Carp qw(croak);
use Digest::SHA qw(sha256_hex hmac_sha512);
use File::Path qw(rmtree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime :sys_wait_h);
use Socket qw(SOL_SOCKET SO_REUSEADDR);
use Test::More;
use Time::HiRes qw(sleep time);

use Crypt::OpenSSL::RSA;

our $NGINX_BIN = $ENV{NGINX_BIN} || '/usr/sbin/nginx';

# `make test-asan`: the sanitizer runtime goes first into the stock nginx
our $PRELOAD = $ENV{SNAP_PRELOAD} // '';
our $NGINX = nginx_command();

sub nginx_command {
    my (%env) = @_;
    my @pre = grep { length } ($PRELOAD, $env{LD_PRELOAD} // '');
    my $cmd = '';
    $cmd .= "env LD_PRELOAD=" . join(':', @pre) . " " if @pre;
    $cmd .= "ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 "
        . "UBSAN_OPTIONS=print_stacktrace=1 " if $PRELOAD;
    $cmd = "env $cmd" if $cmd && $cmd !~ /^env /;
    return $cmd . $NGINX_BIN;
}
our $MODULE = $ENV{SNAP_MODULE}
    or die "SNAP_MODULE is not set: run the tests through `make test`\n";

our $json = JSON::PP->new->canonical;

sub new {
    my ($class, %opts) = @_;

    my $self = bless {
        dir => tempdir('snap-test-XXXXXXXX', TMPDIR => 1,
            CLEANUP => !$ENV{TEST_SNAP_LEAVE}),
        workers => $opts{workers} // 2,
        allow => [],
        daemons => [],
        owner => $$,
    }, $class;

    chmod 0755, $self->{dir};
    mkdir "$self->{dir}/upstream";

    return $self;
}

sub dir { $_[0]{dir} }

sub free_port {
    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
        LocalPort => 0, Proto => 'tcp', ReuseAddr => 1) or die "port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub port {
    my ($self, $n) = @_;
    $n //= 0;
    return $self->{ports}{$n} //= free_port();
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = "$self->{dir}/$name";
    open my $fh, '>', $path or die "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c // '';
}

# Error-log lines a test expects, exempt from the final [crit]/[alert] check.
sub allow_log {
    my ($self, $re) = @_;
    push @{$self->{allow}}, $re;
}

##############################################################################
# keys and partners

sub rsa_key {
    my ($self, $name, $bits) = @_;
    my $rsa = Crypt::OpenSSL::RSA->generate_key($bits // 2048);
    $rsa->use_sha256_hash;
    $self->write_file("$name.pem", $rsa->get_public_key_x509_string);
    $self->write_file("$name.pkcs1.pem", $rsa->get_public_key_string);
    chmod 0600, $self->write_file("$name.key", $rsa->get_private_key_string);
    return $rsa;
}

# A partner: RSA key pair, HMAC secret, id; files in the test dir.
sub partner {
    my ($self, $id, %o) = @_;
    my $p = {
        id => $id,
        partner_id => $o{partner_id} // $id,
        secret => $o{secret} // "secret-of-$id-0123456789",
        rsa => $self->rsa_key("$id", $o{bits}),
    };
    chmod 0600, $self->write_file("$id.secret", $p->{secret} . "\n");
    $p->{pem} = "$self->{dir}/$id.pem";
    $p->{secret_file} = "$self->{dir}/$id.secret";
    $self->{partners}{$id} = $p;
    return $p;
}

sub token_key {
    my ($self, $name, $value) = @_;
    my $path = $self->write_file($name,
        $value // ('k' x 16) . $name . ('K' x 16));
    chmod 0600, $path;
    return $path;
}

# A test CA and a server certificate it signed for $name and 127.0.0.1,
# made with the openssl command line; returns { ca, crt, key } paths.
sub test_ca {
    my ($self, $name) = @_;
    my $d = "$self->{dir}/ca";
    mkdir $d;
    $self->write_file('ca/ext', "subjectAltName=DNS:$name,IP:127.0.0.1\n"
        . "basicConstraints=CA:FALSE\n");
    my $q = '2>/dev/null';
    system("openssl req -x509 -newkey rsa:2048 -nodes -keyout $d/ca.key "
        . "-out $d/ca.crt -days 2 -subj /CN=snap-test-ca $q") == 0
    and system("openssl req -newkey rsa:2048 -nodes -keyout $d/srv.key "
        . "-out $d/srv.csr -subj /CN=$name $q") == 0
    and system("openssl x509 -req -in $d/srv.csr -CA $d/ca.crt "
        . "-CAkey $d/ca.key -CAcreateserial -out $d/srv.crt -days 2 "
        . "-extfile $d/ext $q") == 0
        or die "openssl could not make the test CA\n";
    return { ca => "$d/ca.crt", crt => "$d/srv.crt", key => "$d/srv.key" };
}

##############################################################################
# nginx

sub globals {
    my ($self) = @_;
    my $d = $self->{dir};
    my $user = $> == 0 ? "user root;\n" : '';
    # `make valgrind`: one process in the foreground, under valgrind
    my $procs = $ENV{SNAP_VALGRIND}
        ? "master_process off;\ndaemon off;"
        : "master_process on;\nworker_processes $self->{workers};";
    # TEST_SNAP_DEBUG=1: nginx's debug log, for a developer reading a run
    my $level = $ENV{TEST_SNAP_DEBUG} ? 'debug' : 'info';
    return <<"EOF";
load_module $MODULE;
${user}$procs
pid $d/nginx.pid;
error_log $d/error.log $level;
EOF
}

sub http_globals {
    my ($self) = @_;
    my $d = $self->{dir};
    return <<"EOF";
    access_log $d/access.log;
    # the upstream request line the tests assert on, whatever this nginx's
    # default (1.0 before 1.29.7, 1.1 since)
    proxy_http_version 1.0;
    client_body_temp_path $d/client_body_temp;
    proxy_temp_path $d/proxy_temp;
    fastcgi_temp_path $d/fastcgi_temp;
    uwsgi_temp_path $d/uwsgi_temp;
    scgi_temp_path $d/scgi_temp;
EOF
}

# Expands %%PORT%%, %%PORT_n%%, %%UPSTREAM%%, %%DIR%%.
sub expand {
    my ($self, $conf) = @_;
    $conf =~ s/%%PORT_(\d+)%%/$self->port($1)/ge;
    $conf =~ s/%%PORT%%/$self->port(0)/ge;
    $conf =~ s/%%UPSTREAM%%/'127.0.0.1:' . $self->upstream_port/ge;
    $conf =~ s/%%DIR%%/$self->{dir}/g;
    return $conf;
}

# The http{} block's contents; the harness adds the rest.
sub config {
    my ($self, $http, %o) = @_;
    my $conf = $self->globals . ($o{main} // '')
        . "events { worker_connections 1024; }\n"
        . "http {\n" . $self->http_globals . $self->expand($http) . "}\n";
    $self->write_file('nginx.conf', $conf);
    return $conf;
}

sub test_config {
    my ($self, $http, %o) = @_;
    my $d = $self->{dir};
    $self->config($http, %o);
    my $out = `$NGINX -t -p $d/ -c $d/nginx.conf -e $d/error-t.log 2>&1`;
    return ($? == 0, $out);
}

# nginx -t must refuse the configuration, saying what matches $re.
sub config_fails {
    my ($self, $http, $re, $name) = @_;
    my ($ok, $out) = $self->test_config($http);
    ok(!$ok, "nginx -t fails: $name");
    like($out, $re, "message: $name");
}

sub run {
    my ($self, $http, %o) = @_;
    my $d = $self->{dir};
    $self->config($http, %o) if defined $http;

    my %env = %{$o{env} || {}};
    my $preload = delete $env{LD_PRELOAD};
    local %ENV = (%ENV, %env);
    my $nginx = nginx_command(LD_PRELOAD => $preload);

    if ($ENV{SNAP_VALGRIND}) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            exec 'valgrind', '-q', '--tool=memcheck', '--leak-check=full',
                '--keep-debuginfo=yes',
                '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
                '--num-callers=40', "--log-file=$d/valgrind.log",
                $NGINX_BIN, '-p', "$d/", '-c', "$d/nginx.conf",
                '-e', "$d/error.log";
            die "exec valgrind: $!";
        }
        $self->{valgrind} = $pid;
        for (1 .. 600) {
            last if $self->_listening;
            sleep 0.05;
        }

    } else {
        my $out = `$nginx -p $d/ -c $d/nginx.conf -e $d/error.log 2>&1`;
        die "nginx failed to start: $out\n" . $self->read_file('error.log')
            if $?;

        for (1 .. 100) {
            last if -s "$d/nginx.pid" && $self->_listening;
            sleep 0.05;
        }
    }
    $self->{running} = 1;
    return $self;
}

sub _listening {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $self->port(0));
    return defined $s;
}

sub pid {
    my ($self) = @_;
    my $pid = $self->read_file('nginx.pid');
    chomp $pid;
    return $pid;
}

sub worker_pids {
    my ($self) = @_;
    my $master = $self->pid;
    my @w = grep { /^\d+$/ } split /\s+/, `pgrep -P $master 2>/dev/null`;
    return @w;
}

# gdb attached to a running process, in the background, running the given
# commands in batch mode (a breakpoint, "continue", "kill", ...); returns
# once the process runs again under gdb, or undef where gdb cannot attach.
# Used to stop or fail nginx at one exact point, never to change what a
# test asserts.
sub gdb {
    my ($self, $pid, @cmds) = @_;
    return undef unless -x '/usr/bin/gdb';
    my $log = "$self->{dir}/gdb.$pid.log";
    my $gpid = fork // die "fork: $!";
    if ($gpid == 0) {
        open STDOUT, '>>', $log or POSIX::_exit(1);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(1);
        exec('/usr/bin/gdb', '-nx', '-batch', '-p', $pid,
            '-ex', 'set confirm off', '-ex', 'set pagination off',
            map { ('-ex', $_) } @cmds) or POSIX::_exit(1);
    }
    push @{$self->{gdbs}}, $gpid;
    # attached and running again: traced, and not in a tracing stop
    for (1 .. 400) {
        my $st = $self->read_file("/proc/$pid/status");
        my ($tracer) = $st =~ /^TracerPid:\s+(\d+)/m;
        my ($state) = $st =~ /^State:\s+(\S)/m;
        return $gpid if $tracer && $state ne 't';
        last if waitpid($gpid, WNOHANG) > 0;
        sleep 0.05;
    }
    diag($self->read_file($log));
    return undef;
}

sub gdb_wait {
    my ($self, $gpid, $timeout) = @_;
    for (1 .. ($timeout // 10) * 20) {
        return 1 if waitpid($gpid, WNOHANG) > 0;
        sleep 0.05;
    }
    return 0;
}

sub reload {
    my ($self, $http, %o) = @_;
    $self->config($http, %o) if defined $http;
    my @old = $self->worker_pids;
    kill 'HUP', $self->pid;
    # the old workers exit once the new ones run
    for (1 .. 200) {
        my %now = map { $_ => 1 } $self->worker_pids;
        last unless grep { $now{$_} } @old;
        sleep 0.05;
    }
    sleep 0.1;
}

sub stop {
    my ($self) = @_;
    return unless $self->{running} && $self->{owner} == $$;
    if (my $vg = delete $self->{valgrind}) {
        # a single process quits gracefully only once its timers run out
        kill 'TERM', $vg;
        waitpid $vg, 0;
        $self->{running} = 0;
        return;
    }
    my $pid = $self->pid;
    if ($pid) {
        kill 'QUIT', $pid;
        for (1 .. 200) {
            last unless kill 0, $pid;
            sleep 0.05;
        }
        kill 'TERM', $pid if kill 0, $pid;
    }
    $self->{running} = 0;
}

# The error log must hold no [alert], [crit], [emerg] or sanitizer report
# other than those the test said it expects.
sub check_log {
    my ($self) = @_;
    my @bad = grep {
        my $l = $_;
        ($l =~ /\[(alert|crit|emerg)\]/ || $l =~ /Sanitizer|runtime error/)
            && !grep { $l =~ $_ } @{$self->{allow}};
    } split /\n/, $self->read_file('error.log');
    ok(!@bad, 'no alerts, crits or sanitizer reports in error.log')
        or diag(join "\n", @bad[0 .. ($#bad > 9 ? 9 : $#bad)]);

    return unless $ENV{SNAP_VALGRIND};

    # invalid accesses anywhere; definite leaks whose stack is the module's
    my $vg = $self->read_file('valgrind.log');
    my @reports = split /\n(?===\d+== \S)/, $vg;
    my @errors = grep {
        /Invalid (read|write|free)|uninitialised|Mismatched free/
        || (/definitely lost/ && /ngx_http_snap/)
    } @reports;
    ok(!@errors, 'valgrind: no invalid access, no definite leak in the '
        . 'module') or diag(join "\n", @errors[0 .. ($#errors > 4 ? 4 : $#errors)]);
}

sub done {
    my ($self) = @_;
    $self->stop;
    $self->stop_upstream;
    $self->stop_redis;
    $self->check_log;
    $self->{done} = 1;
    done_testing();
}

sub DESTROY {
    my ($self) = @_;
    # a forked child of the test never stops the test's nginx
    return unless $self->{owner} == $$;
    for my $g (@{$self->{gdbs} || []}) {
        kill 'KILL', $g;
        waitpid $g, 0;
    }
    $self->stop;
    $self->stop_upstream;
    $self->stop_redis;
}

##############################################################################
# a real redis-server from Debian, on a free loopback port in the test dir

sub start_redis {
    my ($self, %o) = @_;
    my $port = $self->{redis_port} //= free_port();
    my $dir = "$self->{dir}/redis";
    mkdir $dir;
    my @args = ('--bind', '127.0.0.1', '--dir', $dir,
        '--save', '', '--appendonly', 'no', '--daemonize', 'no',
        '--logfile', "$dir/redis.log");
    push @args, '--requirepass', $o{password} if defined $o{password};
    # TLS only, with a certificate of its own (a self-signed one will do)
    if ($o{tls}) {
        push @args, '--port', 0, '--tls-port', $port,
            '--tls-cert-file', $o{tls}{cert}, '--tls-key-file', $o{tls}{key},
            '--tls-ca-cert-file', $o{tls}{cert}, '--tls-auth-clients', 'no';
        $self->{redis_tls} = "--tls --cacert $o{tls}{cert} --sni $o{tls}{name}";
    } else {
        push @args, '--port', $port;
    }
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec '/usr/bin/redis-server', @args;
        die "exec redis-server: $!";
    }
    $self->{redis_pid} = $pid;
    for (1 .. 100) {
        last if ($self->redis_cli(defined $o{password}
            ? ('-a', $o{password}, '--no-auth-warning') : (), 'PING')
            // '') =~ /PONG/;
        sleep 0.05;
    }
    return $port;
}

sub redis_port { $_[0]{redis_port} }

sub redis_pid { $_[0]{redis_pid} }

# redis-cli against the test's server; returns its output
sub redis_cli {
    my ($self, @args) = @_;
    my $q = join ' ', map { "'$_'" } @args;
    my $tls = $self->{redis_tls} // '';
    my $out = `redis-cli $tls -h 127.0.0.1 -p $self->{redis_port} $q 2>&1`;
    return $out;
}

sub stop_redis {
    my ($self) = @_;
    my $pid = delete $self->{redis_pid} or return;
    kill 'CONT', $pid;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

##############################################################################
# the recording upstream: every request it gets, raw, in upstream/NNNN

sub upstream_port {
    my ($self) = @_;
    return $self->{upstream_port} //= free_port();
}

sub start_upstream {
    my ($self, %o) = @_;
    my $status = $o{status} // 200;
    my $body = $o{body} // '{"responseCode":"2005200","responseMessage":"Successful"}';
    my $delay = $o{delay} // 0;
    my %routes = %{$o{routes} || {}};
    my $dir = "$self->{dir}/upstream";

    my $server = IO::Socket::INET->new(Listen => 128,
        LocalAddr => '127.0.0.1:' . $self->upstream_port, Proto => 'tcp',
        ReuseAddr => 1) or die "upstream: $!";

    my $pid = fork;
    die "fork: $!" unless defined $pid;

    if ($pid == 0) {
        my $n = 0;
        local $SIG{TERM} = sub { exit 0 };
        while (my $c = $server->accept) {
            my $req = _read_request($c);
            next unless defined $req;
            $n++;
            my $f = sprintf "%s/%04d", $dir, $n;
            open my $fh, '>', "$f.tmp";
            binmode $fh;
            print $fh $req;
            close $fh;
            rename "$f.tmp", $f;
            # a route: path prefix => [status, body, delay]
            my ($st, $b, $dl) = ($status, $body, $delay);
            my ($path) = $req =~ m{^\S+ (\S+)};
            for my $prefix (keys %routes) {
                ($st, $b, $dl) = @{$routes{$prefix}}
                    if index($path // '', $prefix) == 0;
            }
            sleep $dl if $dl;
            print $c "HTTP/1.1 $st X\r\nContent-Type: application/json\r\n"
                . "Content-Length: " . length($b) . "\r\n"
                . "Connection: close\r\n\r\n$b";
            close $c;
        }
        exit 0;
    }

    close $server;
    push @{$self->{daemons}}, $pid;
    return $pid;
}

sub _read_request {
    my ($c) = @_;
    my $buf = '';
    local $SIG{ALRM} = sub { die "timeout\n" };
    my $ok = eval {
        alarm 10;
        while ($buf !~ /\r\n\r\n/) {
            my $n = sysread($c, $buf, 65536, length $buf);
            return undef unless $n;
        }
        my ($head) = $buf =~ /^(.*?\r\n\r\n)/s;
        my $len = $head =~ /^content-length:\s*(\d+)/mi ? $1 : 0;
        while (length($buf) < length($head) + $len) {
            my $n = sysread($c, $buf, 65536, length $buf);
            last unless $n;
        }
        alarm 0;
        1;
    };
    alarm 0;
    return $ok ? $buf : undef;
}

sub stop_upstream {
    my ($self) = @_;
    for my $pid (@{$self->{daemons}}) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
    $self->{daemons} = [];
}

# What the upstream received: a list of { head, body, headers => {lc name} }.
sub upstream_requests {
    my ($self) = @_;
    my $dir = "$self->{dir}/upstream";
    opendir my $dh, $dir or return ();
    my @files = sort grep { /^\d{4}$/ } readdir $dh;
    closedir $dh;
    my @r;
    for my $f (@files) {
        my $raw = $self->read_file("$dir/$f");
        my ($head, $body) = $raw =~ /^(.*?)\r\n\r\n(.*)$/s;
        my %h;
        for (split /\r\n/, $head) {
            $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
        }
        my ($line) = split /\r\n/, $head;
        push @r, { raw => $raw, line => $line, head => $head, body => $body,
            headers => \%h };
    }
    return @r;
}

sub parse_size {
    my ($s) = @_;
    my %m = (k => 1024, m => 1048576, g => 1073741824);
    return $s =~ /^(\d+)([kmg])?$/i ? $1 * ($2 ? $m{lc $2} : 1) : 0;
}

sub upstream_count { scalar(my @r = $_[0]->upstream_requests) }

##############################################################################
# HTTP

# Raw bytes over one connection; returns everything read until close or
# the timeout.  Options: sleep between the head and `body`, `split` to
# send the body in pieces with pauses.
sub http {
    my ($self, $request, %o) = @_;
    my $s = IO::Socket::INET->new(Proto => 'tcp',
        PeerAddr => '127.0.0.1:' . ($o{port} // $self->port(0)))
        or die "connect: $!";
    $s->autoflush(1);
    binmode $s;

    print $s $request;
    if (defined $o{body}) {
        sleep($o{sleep} // 0.1);
        print $s $o{body};
    }
    for my $piece (@{$o{pieces} || []}) {
        sleep($o{sleep} // 0.1);
        print $s $piece;
    }

    return _read_all($s, $o{timeout} // 8);
}

sub _read_all {
    my ($s, $timeout) = @_;
    my $reply = '';
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, $reply, 65536, length $reply);
        last unless $n;
    }
    return $reply;
}

# The head of a raw request, without its blank line: the request line, Host,
# Connection: close (unless keepalive), then the header pairs in order.
sub raw_head {
    my ($method, $path, $headers, %o) = @_;
    my $raw = "$method $path HTTP/1.1\r\nHost: a\r\n";
    $raw .= "Connection: close\r\n" unless $o{keepalive};
    my @h = @$headers;
    while (my ($k, $v) = splice @h, 0, 2) {
        $raw .= "$k: $v\r\n";
    }
    return $raw;
}

# A whole raw request with a Content-Length body.
sub raw_request {
    my ($method, $path, $headers, $body, %o) = @_;
    return raw_head($method, $path,
        [ @$headers, 'Content-Length' => length $body ], %o) . "\r\n$body";
}

# One HTTP/1.1 request, Connection: close; returns a parsed response.
sub request {
    my ($self, %a) = @_;
    my $method = $a{method} // 'POST';
    my $path = $a{path} // '/';
    my $body = $a{body} // '';
    my $raw = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n";
    my @h = @{$a{headers} || []};
    while (my ($k, $v) = splice @h, 0, 2) {
        $raw .= "$k: $v\r\n";
    }
    $raw .= "Content-Length: " . length($body) . "\r\n"
        if length $body || $method eq 'POST';
    $raw .= "\r\n" . $body;
    return parse_response($self->http($raw, port => $a{port}));
}

# The first line of a log file in the test's directory matching $re, once
# nginx wrote it (the access log is written after the answer went out);
# '' when none did within 2 s.
sub logged {
    my ($self, $file, $re) = @_;
    for (1 .. 40) {
        my ($l) = grep { /$re/ } split /\n/, $self->read_file($file);
        return $l if defined $l;
        sleep 0.05;
    }
    return '';
}

# One request over HTTP/2 (curl, prior knowledge) to the listener at
# port(port_index, 1 by default); returns { status, version, json, body }.
# A request refused before nginx reads its body is best sent without one:
# nginx then resets the stream it no longer reads (RST_STREAM NO_ERROR
# after the whole answer), which curl 7.88 may report as error 92.
sub h2 {
    my ($self, %a) = @_;
    my @args = ('-sS', '--http2-prior-knowledge', '-o', '-', '-w',
        '\n%{http_version} %{http_code}', '-X', $a{method} // 'POST');
    my @h = @{$a{headers} || []};
    while (my ($k, $v) = splice @h, 0, 2) { push @args, '-H', "$k: $v" }
    my $body = $a{body} // '';
    if (length $body) {
        $self->write_file('h2body', $body);
        push @args, '--data-binary', "\@$self->{dir}/h2body";
    }
    my $url = 'http://127.0.0.1:' . $self->port($a{port} // 1) . $a{path};
    open my $fh, '-|', 'curl', @args, $url or die "curl: $!";
    my $out = do { local $/; <$fh> };
    close $fh;
    my ($got, $version, $status) = $out =~ /^(.*)\n(\S+) (\d+)$/s;
    my $r = { status => ($status // 0) + 0, version => $version // '',
        body => $got // $out };
    $r->{json} = eval { $json->decode($r->{body}) };
    return $r;
}

sub parse_response {
    my ($raw) = @_;
    my ($head, $body) = $raw =~ /^(.*?)\r\n\r\n(.*)$/s;
    $head //= $raw;
    $body //= '';
    my ($status) = $head =~ m{^HTTP/1\.[01] (\d{3})};
    my %h;
    for (split /\r\n/, $head) {
        $h{lc $1} = $2 if /^([^:]+):\s*(.*)$/;
    }
    my $j = eval { $json->decode($body) };
    return { status => $status // 0, headers => \%h, body => $body,
        json => $j, raw => $raw };
}

##############################################################################
# metrics

# GET the Prometheus endpoint; returns { raw, status, samples => [ [name,
# {labels}, value], ... ] }, label values unescaped.
sub scrape {
    my ($self, %o) = @_;
    my $r = $self->request(method => 'GET', path => $o{path} // '/snap/metrics',
        port => $o{port});
    my @samples;
    for my $line (split /\n/, $r->{body}) {
        next if $line =~ /^#/ || $line eq '';
        my ($name, $labels, $value) =
            $line =~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/
            or die "not a sample line: $line";
        my %l;
        while (($labels // '') =~ /\G,?([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/gc) {
            my ($k, $v) = ($1, $2);
            $v =~ s/\\(.)/$1 eq 'n' ? "\n" : $1/ge;
            $l{$k} = $v;
        }
        push @samples, [ $name, \%l, $value ];
    }
    $r->{samples} = \@samples;
    return $r;
}

# Counters move in the log phase, just after the answer has gone: scrape
# until $ready->($scrape) holds (a second at most), and return the last.
sub scrape_when {
    my ($self, $ready, %o) = @_;
    my $m;
    for (1 .. 50) {
        $m = $self->scrape(%o);
        last if $ready->($m);
        sleep 0.02;
    }
    return $m;
}

# The sum of the samples named $name whose labels hold every pair given.
sub metric {
    my ($scrape, $name, %want) = @_;
    my $sum = 0;
    SAMPLE: for my $s (@{$scrape->{samples}}) {
        next unless $s->[0] eq $name;
        for (keys %want) {
            next SAMPLE unless ($s->[1]{$_} // "\0") eq $want{$_};
        }
        $sum += $s->[2];
    }
    return $sum;
}

##############################################################################
# SNAP client

# X-TIMESTAMP for now (+offset seconds) in +07:00, or UTC with Z and millis.
sub timestamp {
    my ($offset, $style) = @_;
    return timestamp_at(time + ($offset // 0), $style);
}

# X-TIMESTAMP for a moment given in seconds since the epoch.
sub timestamp_at {
    my ($t, $style) = @_;
    if (($style // '') eq 'Z') {
        return strftime('%Y-%m-%dT%H:%M:%S', gmtime $t)
            . sprintf('.%03dZ', ($t - int $t) * 1000);
    }
    return strftime('%Y-%m-%dT%H:%M:%S+07:00', gmtime($t + 7 * 3600));
}

# The WIB day (days since the epoch) an X-TIMESTAMP of the form timestamp()
# writes falls on: what the replay key holds.  Tests take the day of the
# timestamp they sent, never of the moment they started, so that a run
# crossing midnight WIB (17:00 UTC) looks under the right day.
sub wib_day {
    my ($ts) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $z) = $ts
        =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d+)?(Z|\+07:00)$/
        or croak "not a timestamp: $ts";
    require Time::Local;
    my $t = Time::Local::timegm($s, $mi, $h, $d, $mo - 1, $y)
        - ($z eq 'Z' ? 0 : 7 * 3600);
    return int(($t + 7 * 3600) / 86400);
}

# Whitespace outside JSON strings removed, independently of the module.
sub minify {
    my ($s) = @_;
    my ($out, $in, $esc) = ('', 0, 0);
    for my $c (split //, $s) {
        if ($in) {
            if ($esc) { $esc = 0 }
            elsif ($c eq '\\') { $esc = 1 }
            elsif ($c eq '"') { $in = 0 }
            $out .= $c;
            next;
        }
        $in = 1 if $c eq '"';
        $out .= $c unless $c =~ /[ \t\r\n]/;
    }
    return $out;
}

sub rsa_sign {
    my ($rsa, $msg) = @_;
    $rsa->use_sha256_hash;
    return encode_base64($rsa->sign($msg), '');
}

# Headers for the Access Token B2B call.
sub token_headers {
    my ($self, $p, %o) = @_;
    my $ts = $o{timestamp} // timestamp();
    my $client = $o{client_key} // $p->{id};
    my $sig = $o{signature}
        // rsa_sign($o{rsa} // $p->{rsa}, "$client|$ts");
    return ['Content-Type' => 'application/json', 'X-TIMESTAMP' => $ts,
        'X-CLIENT-KEY' => $client, 'X-SIGNATURE' => $sig];
}

sub get_token {
    my ($self, $p, %o) = @_;
    my $r = $self->request(path => $o{path} // '/token',
        headers => $self->token_headers($p, %o),
        body => '{"grantType":"client_credentials"}', port => $o{port});
    die "token call failed: $r->{raw}" unless $r->{json}
        && $r->{json}{accessToken};
    return $r->{json}{accessToken};
}

sub string_to_sign {
    my (%a) = @_;
    my $hash = sha256_hex(minify($a{body} // ''));
    return defined $a{token}
        ? "$a{method}:$a{path}:$a{token}:$hash:$a{timestamp}"
        : "$a{method}:$a{path}:$hash:$a{timestamp}";
}

# Headers for a transactional call: HMAC (type 1) when a token is given,
# RSA (type 2) otherwise.  Any header can be overridden or left out (undef).
#
# An X-EXTERNAL-ID this harness sent before, sent again without a timestamp
# of the test's, goes with the X-TIMESTAMP it first went with, as a replay
# does (while that is under 200 s old): so a test that sends an id twice
# asserts on one WIB day even when its run crosses midnight WIB.
sub snap_headers {
    my ($self, $p, %a) = @_;
    my $method = $a{method} // 'POST';
    my $ts = $a{timestamp};
    if (!defined $ts && defined $a{external_id}) {
        my $seen = $self->{sent}{"$p->{partner_id} $a{external_id}"};
        $ts = $seen->[1] if $seen && time - $seen->[0] < 200;
    }
    $ts //= timestamp();
    $self->{sent}{"$p->{partner_id} " . ($a{external_id} // '')}
        //= [ time, $ts ] if defined $a{external_id};
    my $sts = string_to_sign(method => $method,
        path => $a{signed_path} // $a{path}, token => $a{token},
        body => $a{body}, timestamp => $ts);
    my $sig = defined $a{token}
        ? encode_base64(hmac_sha512($sts, $a{secret} // $p->{secret}), '')
        : rsa_sign($p->{rsa}, $sts);

    my %h = (
        'Content-Type' => 'application/json',
        'X-TIMESTAMP' => $ts,
        'X-SIGNATURE' => $sig,
        'X-PARTNER-ID' => $p->{partner_id},
        'X-EXTERNAL-ID' => $a{external_id} // external_id(),
        'CHANNEL-ID' => '95221',
    );
    $h{Authorization} = "Bearer $a{token}" if defined $a{token};
    my %over = %{$a{override} || {}};
    @h{keys %over} = values %over;

    my @order = ('Content-Type', 'Authorization', 'X-TIMESTAMP',
        'X-SIGNATURE', 'X-PARTNER-ID', 'X-EXTERNAL-ID', 'CHANNEL-ID');
    my %seen;
    my @out;
    for my $k (@order, sort keys %h) {
        next if $seen{$k}++;
        next unless defined $h{$k};
        push @out, $k => $h{$k};
    }
    push @out, @{$a{extra} || []};
    return \@out;
}

# Sign and send; returns the parsed response.
sub snap {
    my ($self, $p, %a) = @_;
    my $method = $a{method} // 'POST';
    my $headers = $self->snap_headers($p, %a);
    return $self->request(method => $method, path => $a{path},
        headers => $headers, body => $a{body} // '', port => $a{port});
}

my $ext = 0;
sub external_id {
    return sprintf '%d%05d%06d', time, $$ % 100000, ++$ext;
}

# Assert a SNAP error: status, code, message; returns the response.
sub is_snap_error {
    my ($r, $code, $message, $name) = @_;
    my $status = substr $code, 0, 3;
    my $ok = $r->{status} == $status
        && $r->{json}
        && ($r->{json}{responseCode} // '') eq $code
        && ($r->{json}{responseMessage} // '') eq $message
        && ($r->{headers}{'content-type'} // '') eq 'application/json'
        && ($r->{headers}{'x-timestamp'} // '')
            =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/;
    ok($ok, $name) or diag("expected $code \"$message\", got:\n$r->{raw}");
    return $r;
}

sub import {
    my $caller = caller;
    no strict 'refs';
    *{"${caller}::is_snap_error"} = \&is_snap_error;
    *{"${caller}::timestamp"} = \&timestamp;
    *{"${caller}::wib_day"} = \&wib_day;
    *{"${caller}::timestamp_at"} = \&timestamp_at;
    *{"${caller}::minify"} = \&minify;
    *{"${caller}::rsa_sign"} = \&rsa_sign;
    *{"${caller}::string_to_sign"} = \&string_to_sign;
    *{"${caller}::external_id"} = \&external_id;
    *{"${caller}::metric"} = \&metric;
}

1;
