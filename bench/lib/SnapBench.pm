package SnapBench;

# What bench/run.pl and bench/compare.pl share: the 1 KB notification, a
# wrk Lua script for a request (with a fresh X-EXTERNAL-ID each time when
# asked), one wrk run read back, medians of rounds.

use strict;
use warnings;

use Exporter qw(import);

our @EXPORT_OK = qw(notification app lua wrk median main_conf mapped);

# With two cores or more, the one nginx worker is bound to the first core
# and a one-thread wrk to the second: left to the scheduler, the two shared
# a core in some runs and not in others, and a run's rate moved by a
# quarter from one round to the next.
my ($cores) = (`nproc 2>/dev/null` =~ /(\d+)/, 1);
my $pin = $cores >= 2 && system('command -v taskset >/dev/null') == 0;

sub pinned { $pin }

# what runs a command on core $n when bound, else nothing
sub on_core {
    my ($n) = @_;
    return $pin ? "taskset -c $n " : '';
}

# the main context of a one-worker nginx under test
sub main_conf {
    return "worker_rlimit_nofile 4096;\n"
        . ($pin ? "worker_cpu_affinity 01;\n" : '');
}

# The upstream of every run: a `return 200` server in the same nginx, over
# keepalive, the cheapest there is, so the ratios are the worst case.
my $app = <<'CONF';
    upstream app {
        server 127.0.0.1:%%PORT_1%%;
        keepalive 64;
    }

    server {
        listen 127.0.0.1:%%PORT_1%% backlog=4096;
        keepalive_requests 1000000;
        location / {
            return 200 '{"responseCode":"2005200","responseMessage":"Successful"}';
        }
    }
CONF

sub app { $app }

# a notification of $size bytes (1 KB by default), as the seed's, padded in
# additionalInfo
sub notification {
    my ($size) = @_;
    my $body = '{"additionalInfo":{"rrn":"305080000010","note":"%s"},"amount":{"currency":"IDR","value":"20.00"},"externalStoreId":"","latestTransactionStatus":"00","originalPartnerReferenceNo":"18000245195080000010","originalReferenceNo":"T25050000799117","transactionStatusDesc":"Success"}';
    return sprintf $body, 'n' x (($size // 1024) - length(sprintf $body, ''));
}

# X-EXTERNAL-ID is not part of SNAP's string to sign: one signature per
# path serves every id, and the script sets a fresh one on each request
sub lua {
    my ($t, $name, $method, $path, $headers, $body, $unique) = @_;
    my $hl = join '', map {
        (my $v = $headers->{$_}) =~ s/(["\\])/\\$1/g;
        qq{wrk.headers["$_"] = "$v"\n}
    } sort keys %$headers;
    (my $lb = $body // '') =~ s/(["\\])/\\$1/g;
    my $script = <<"LUA";
wrk.method = "$method"
wrk.path = "$path"
wrk.body = "$lb"
$hl
counter = 0
prefix = "$name-" .. os.time() .. "-"
LUA
    # each wrk thread has a Lua state of its own: setup() numbers them, so
    # that two threads never send the same id
    $script .= <<'LUA' if $unique;
threads = 0
setup = function(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
request = function()
    counter = counter + 1
    wrk.headers["X-EXTERNAL-ID"] = prefix .. (tid or 0) .. "-" .. counter
    return wrk.format()
end
LUA
    return $t->write_file("$name.lua", $script);
}

# one wrk run, with $threads threads (1 by default); a run with answers
# other than 2xx is void and stops the bench
sub wrk {
    my ($t, $name, $script, $seconds, $c, $threads) = @_;
    my $url = 'http://127.0.0.1:' . $t->port;
    $threads //= 1;
    my $cpu = $threads == 1 ? on_core(1) : '';
    my $out = `${cpu}wrk -t$threads -c$c -d${seconds}s --latency -s $script $url 2>&1`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my %lat;
    for my $q (50, 99) {
        my ($v, $u) = $out =~ /^\s+$q(?:\.000)?%\s+([\d.]+)(us|ms|s)\b/m;
        $lat{$q} = defined $v
            ? $v * ($u eq 'us' ? 0.001 : $u eq 's' ? 1000 : 1) : undef;
    }
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    my ($reqs) = $out =~ /(\d+) requests in/;
    die "wrk failed for $name:\n$out" unless $rps;
    die "$name: $non2xx answers were not 2xx, the run is void\n"
        if $non2xx;
    printf STDERR "%-28s %10.0f req/s  p50 %.3f ms  p99 %.3f ms\n", $name,
        $rps, $lat{50}, $lat{99};
    return { rps => $rps, p50 => $lat{50}, p99 => $lat{99},
        requests => $reqs };
}

# Each worker maps its replay zones' pages a few at a time from its start
# on: waits until every worker of $t has as much shared memory mapped as
# its nginx.conf declares replay zones, so that no run measures a worker
# still doing it.  False when a worker stops short of it for two seconds
# (a module that does not map them).
sub mapped {
    my ($t) = @_;
    my $mb = 0;
    $mb += $_ for $t->read_file('nginx.conf')
        =~ /^\s*snap_replay_zone\s+[^:\s]+:(\d+)m;/mg;
    for my $pid ($t->worker_pids) {
        my ($kb, $last, $still) = (0, -1, 0);
        while ($kb < $mb * 1024) {
            ($kb) = `cat /proc/$pid/status` =~ /^RssShmem:\s+(\d+)/m;
            $still = $kb == $last ? $still + 1 : 0;
            return 0 if $still >= 20;
            $last = $kb;
            select undef, undef, undef, 0.1;
        }
    }
    return 1;
}

sub median {
    my (@runs) = @_;
    my %m;
    for my $k (qw(rps p50 p99)) {
        my @v = sort { $a <=> $b } map { $_->{$k} } @runs;
        $m{$k} = $v[int(@v / 2)];
    }
    return \%m;
}

1;
