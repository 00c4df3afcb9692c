#!/usr/bin/perl

# Metrics: after a known mix of accepted and refused requests, every
# reason at least once, over both workers, each counter of the endpoint
# holds exactly what was sent; the counters survive reloads; promtool finds
# nothing to say; a real Prometheus server scrapes the values; label values
# are escaped.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $s = $t->partner('Second');
my $h = $t->partner('Third');
my $key = $t->token_key('token.key');
my $down = SnapTest::free_port();
my $dead = SnapTest::free_port();
my $d = $t->dir;
my $redis = -x '/usr/bin/redis-server';
my $rport = $redis ? $t->start_redis : 0;

# a zone name with a quote and a backslash, as nginx's parser reads it
my $ODD = 'i"d\\s';

my $redis_conf = $redis ? <<"EOF" : '';
    snap_replay_zone shared:1m;
    snap_replay_redis shared 127.0.0.1:$rport timeout=300ms;
    snap_replay_zone fallback:1m;
    snap_replay_redis fallback 127.0.0.1:$dead on_error=local;
EOF
my $redis_locations = $redis ? <<"EOF" : '';
        location = /redis {
            snap_verify 47;
            snap_replay shared;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /fallback {
            snap_verify 47;
            snap_replay fallback;
            proxy_pass http://%%UPSTREAM%%;
        }
EOF

sub conf {
    my ($extra) = @_;
    return <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_client Second public_key=$s->{pem} secret_file=$s->{secret_file}
                allow=10.0.0.0/8;
    snap_client Third public_key=$h->{pem} secret_file=$h->{secret_file};
    ${\ ($extra // '')}
    snap_token_key $key;
    snap_replay_zone "i\\"d\\\\s:1m";
    snap_replay_zone tiny:32k;
    snap_metrics_zone metrics:1m;
$redis_conf
    limit_req_zone \$binary_remote_addr zone=rl:1m rate=1r/m;
    log_format snap '\$pid \$snap_client_id \$snap_reject_reason';
    access_log $d/snap.log snap;

    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        client_max_body_size 2k;

        location = /token { snap_token; }
        location = /short { snap_token; snap_token_ttl 1s; }

        location = /notify {
            snap_verify qr-mpm-notify;
            snap_replay "i\\"d\\\\s";
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /tiny {
            snap_verify 52;
            snap_replay tiny;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /limited {
            snap_verify 47;
            limit_req zone=rl;
            limit_req_status 429;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /down {
            snap_verify 47;
            proxy_pass http://127.0.0.1:$down;
        }
$redis_locations
        location = /snap/metrics {
            snap_metrics;
            allow 127.0.0.1;
            deny all;
        }
    }
EOF
}

###############################################################################
# nginx -t

$t->config_fails(conf() =~ s/metrics:1m/metrics:32k/r,
    qr/snap_metrics_zone "metrics" is too small for the \d+ series of this configuration, make it larger \(about \d+k\) in \S+nginx.conf:\d+/,
    'a zone too small for its series');
$t->config_fails(conf() =~ s/snap_metrics_zone metrics:1m;//r,
    qr/"snap_metrics" needs "snap_metrics_zone" in the http block in \S+:\d+/,
    'snap_metrics without a zone');
$t->config_fails(conf() =~ s/snap_replay tiny;/snap_replay tinny;/r,
    qr/"snap_replay" names the zone "tinny", which no "snap_replay_zone" declares, in \S+nginx.conf:\d+/,
    'a misspelt replay zone, with its file and line');

$t->allow_log(qr/\[emerg\].*snap_metrics_zone "metrics" is too small/);
$t->allow_log(qr/\[crit\].*replay zone "tiny" is full/);

$t->start_upstream;
$t->run(conf());

my $seed = '{"additionalInfo":{"rrn":"305080000010"},"amount":{"currency":"IDR","value":"20.00"},"externalStoreId":"","latestTransactionStatus":"00","originalPartnerReferenceNo":"18000245195080000010","originalReferenceNo":"T25050000799117","transactionStatusDesc":"Success"}';

my $m0 = $t->scrape;
is($m0->{status}, 200, 'the endpoint answers');
is($m0->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
    'in the text format 0.0.4');
is(metric($m0, 'snap_requests_total'), 0, 'nothing counted yet');

my (%want, %tok, %ngx, %rec, %dup);
my $accepted_up = 0;

sub expect {
    my ($r, $status, $partner, $service, $outcome, $name) = @_;
    is($r->{status}, $status, $name) or diag($r->{raw});
    $want{"$partner/$service/$outcome"}++;
}

# tokens
my $token = $t->get_token($p);
my $tthird = $t->get_token($h);
my $tshort = $t->get_token($p, path => '/short');
$tok{'QoinSnap/accepted'} += 2;
$tok{'Third/accepted'}++;
my $r = $t->request(path => '/token',
    headers => $t->token_headers($p, signature => 'AAAA'),
    body => '{"grantType":"client_credentials"}');
is($r->{status}, 401, 'a token call with a bad signature');
$tok{'QoinSnap/signature'}++;
$r = $t->request(method => 'GET', path => '/token');
is($r->{status}, 405, 'a GET token call');
$tok{'unknown/method'}++;

sub notify { $t->snap($p, path => '/notify', token => $token, body => $seed, @_) }

# accepted, three times
my $id = external_id();
expect(notify(external_id => $id), 200, 'QoinSnap', 52, 'accepted',
    'accepted');
expect(notify(), 200, 'QoinSnap', 52, 'accepted', 'accepted');
expect(notify(), 200, 'QoinSnap', 52, 'accepted', 'accepted');
$rec{$ODD} += 3;
$accepted_up += 3;

# refused before the partner is verified: counted under the configured
# partner X-PARTNER-ID names (its claim), "unknown" for any other id
expect(notify(override => { 'X-SIGNATURE' => undef }), 400, 'QoinSnap', 52,
    'missing_field', 'missing X-SIGNATURE');
expect(notify(override => { 'X-TIMESTAMP' => 'garbage' }), 400, 'QoinSnap',
    52, 'bad_format', 'a malformed X-TIMESTAMP');
expect(notify(extra => [ 'X-SIGNATURE' => 'x' ]), 400, 'QoinSnap', 52,
    'duplicate_header', 'X-SIGNATURE twice');
expect(notify(override => { Authorization => undef }), 401, 'QoinSnap', 52,
    'token_missing', 'no token');
expect(notify(timestamp => timestamp(-1000)), 401, 'QoinSnap', 52,
    'timestamp', 'an old timestamp');
expect(notify(override => { 'X-PARTNER-ID' => 'Nobody' }), 401, 'unknown',
    52, 'unknown_client', 'an unknown partner');
expect(notify(override => { 'X-PARTNER-ID' => undef }), 400, 'unknown', 52,
    'missing_field', 'no X-PARTNER-ID');

# refused once the partner is known
expect($t->snap($s, path => '/notify', token => $token, body => $seed), 401,
    'Second', 52, 'forbidden', 'a partner from an address not allowed');
expect(notify(secret => 'wrong'), 401, 'QoinSnap', 52, 'signature',
    'a forged signature');
expect(notify(body => 'not json'), 400, 'QoinSnap', 52, 'bad_json',
    'a body that is not JSON');
expect(notify(body => '{"originalReferenceNo":"x"}'), 400, 'QoinSnap', 52,
    'missing_field', 'a mandatory body field missing');
expect(notify(token => 'abc.def.ghi'), 401, 'QoinSnap', 52, 'token_invalid',
    'a forged token');
expect(notify(token => $tthird), 401, 'QoinSnap', 52, 'token_partner',
    'another partner\'s token');
expect(notify(external_id => $id), 409, 'QoinSnap', 52, 'replay',
    'a reused X-EXTERNAL-ID');
$dup{$ODD}++;
# nginx refuses it by its Content-Length, before the module reads a header
expect(notify(body => '{"a":"' . ('x' x 3000) . '"}'), 400, 'unknown', 52,
    'too_large', 'a body over client_max_body_size (nginx\'s 413)');
$ngx{'unknown/too_large'}++;
sleep 2.1;
expect(notify(token => $tshort), 401, 'QoinSnap', 52, 'token_expired',
    'an expired token');

# nginx's own refusals and errors around the checks
expect($t->snap($p, path => '/limited', token => $token, body => '{}'), 200,
    'QoinSnap', 47, 'accepted', 'rate limited location: the first passes');
$accepted_up++;
expect($t->snap($p, path => '/limited', token => $token, body => '{}'), 429,
    'unknown', 47, 'rate_limited', 'the second is limit_req\'s 429');
$ngx{'unknown/rate_limited'}++;
expect($t->snap($p, path => '/down', token => $token, body => '{}'), 500,
    'QoinSnap', 47, 'accepted', 'verified, then the upstream is down');
$ngx{'QoinSnap/upstream'}++;
$r = $t->http("POST /notify HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n");
like($r, qr{^HTTP/1.1 400}, 'a malformed request, before any location');
$ngx{'unknown/bad_request'}++;

# the tiny zone: filled, then full
my $m = $t->scrape;
my $cap = metric($m, 'snap_replay_capacity_ids', zone => 'tiny');
ok($cap > 50 && $cap < 400, "the tiny zone holds about $cap ids");
my ($ok, $full) = (0, 0);
for (1 .. $cap + 40) {
    my $r = $t->snap($p, path => '/tiny', token => $token, body => '{}');
    if ($r->{status} == 200) { $ok++ }
    elsif (($r->{json}{responseCode} // '') eq '5005200') { $full++ }
    else { diag($r->{raw}); last }
}
ok($full > 0, "the tiny zone filled up after $ok ids");
ok($ok >= $cap * 0.9 && $ok <= $cap * 1.1,
    "the capacity gauge ($cap) is within 10% of what it held ($ok)");
$want{"QoinSnap/52/accepted"} += $ok;
$want{"QoinSnap/52/replay_zone_full"} += $full;
$rec{tiny} += $ok;
$accepted_up += $ok;
$m = $t->scrape_when(sub {
    metric($_[0], 'snap_replay_zone_full_total', zone => 'tiny') == $full });
is(metric($m, 'snap_replay_zone_full_total', zone => 'tiny'), $full,
    'zone-full events counted');
is(metric($m, 'snap_replay_ids', zone => 'tiny'), $ok, 'live ids: all of them');
is(metric($m, 'snap_replay_ids', zone => $ODD), 3, 'and in the other zone');

# Redis: round trips, a fallback, a timeout
if ($redis) {
    for (1 .. 3) {
        expect($t->snap($p, path => '/redis', token => $token, body => '{}',
            external_id => "redis$_"), 200, 'QoinSnap', 47, 'accepted',
            'the zone on Redis');
    }
    $rec{shared} += 3;
    $accepted_up += 3;
    expect($t->snap($p, path => '/redis', token => $token, body => '{}',
        external_id => 'redis1'), 409, 'QoinSnap', 47, 'replay',
        'a duplicate, caught by the node\'s zone first');
    $dup{shared}++;
    expect($t->snap($p, path => '/fallback', token => $token, body => '{}'),
        200, 'QoinSnap', 47, 'accepted', 'Redis down, on_error=local');
    $rec{fallback}++;
    $accepted_up++;
    kill 'STOP', $t->redis_pid;
    expect($t->snap($p, path => '/redis', token => $token, body => '{}'), 500,
        'QoinSnap', 47, 'replay_store', 'Redis stopped: 500, on_error=closed');
    kill 'CONT', $t->redis_pid;
    $t->allow_log(qr/redis .* (timed out|is down|closed the connection)/);
}

is($t->upstream_count, $accepted_up,
    "the upstream received the $accepted_up accepted requests");

###############################################################################
# every counter, exactly

my $sent = 0;
$sent += $_ for values %want;
$m = $t->scrape_when(sub { metric($_[0], 'snap_requests_total') == $sent });

sub exact {
    my ($m, $name, $want, $key, $what) = @_;
    my ($bad, $n, $total) = (0, 0, 0);
    for my $smp (grep { $_->[0] eq $name } @{$m->{samples}}) {
        my $k = $key->($smp->[1]);
        my $w = $want->{$k} // 0;
        $total += $smp->[2];
        $n++;
        if ($smp->[2] != $w) {
            $bad++;
            diag("$name $k: $smp->[2], expected $w");
        }
    }
    my $sum = 0;
    $sum += $_ for values %$want;
    ok($n > 0 && !$bad && $total == $sum,
        "$what: every one of $n series as sent ($sum in all)");
}

exact($m, 'snap_requests_total', \%want,
    sub { "$_[0]{partner}/$_[0]{service}/$_[0]{outcome}"
        . ($_[0]{enforced} eq 'true' ? '' : '/report') },
    'snap_requests_total');
is(metric($m, 'snap_requests_total', enforced => 'false'), 0,
    'all of them enforced');
exact($m, 'snap_token_requests_total', \%tok,
    sub { "$_[0]{partner}/$_[0]{outcome}" }, 'snap_token_requests_total');
exact($m, 'snap_nginx_errors_total', \%ngx,
    sub { "$_[0]{partner}/$_[0]{reason}" },
    'snap_nginx_errors_total');
exact($m, 'snap_replay_recorded_total', \%rec, sub { $_[0]{zone} },
    'snap_replay_recorded_total');
exact($m, 'snap_replay_duplicates_total', \%dup, sub { $_[0]{zone} },
    'snap_replay_duplicates_total');

my %outcomes = map { (split m{/})[2] => 1 } keys %want;
my @reasons = qw(missing_field bad_format duplicate_header bad_json timestamp
    unknown_client signature token_missing token_invalid token_expired
    token_partner replay rate_limited replay_zone_full too_large forbidden);
push @reasons, 'replay_store' if $redis;
is(scalar(grep { $outcomes{$_} } @reasons), scalar @reasons,
    'every reason the checks give was counted at least once');

if ($redis) {
    my %z = (zone => 'shared');
    is(metric($m, 'snap_replay_store_requests_total', %z), 3,
        'Redis round trips: 3 (the duplicate never left the node)');
    is(metric($m, 'snap_replay_store_seconds_count', %z), 3,
        'latency histogram: 3 observations');
    is(metric($m, 'snap_replay_store_seconds_bucket', %z, le => '+Inf'), 3,
        'the +Inf bucket holds them all');
    my $sum = metric($m, 'snap_replay_store_seconds_sum', %z);
    ok($sum > 0 && $sum < 0.9, "their sum: $sum s");
    is(metric($m, 'snap_replay_store_errors_total', %z, kind => 'timeout'), 1,
        'one timeout');
    is(metric($m, 'snap_replay_store_errors_total', zone => 'fallback',
        kind => 'down'), 1, 'the other Redis was down once');
    is(metric($m, 'snap_replay_store_fallbacks_total', zone => 'fallback'), 1,
        'and that request fell back to the node\'s zone');
    is(metric($m, 'snap_replay_store_fallbacks_total', %z), 0,
        'the closed zone never falls back');
}

# both workers counted
my %pids;
for (split /\n/, $t->read_file('snap.log')) {
    $pids{(split / /)[0]}++;
}
is(scalar keys %pids, 2, 'the requests were spread over both workers');

# label values escaped: a quote and a backslash in a zone's name
like($m->{body}, qr/^snap_replay_recorded_total\{zone="i\\"d\\\\s"\} 3$/m,
    'a label value with a quote and a backslash, escaped');

# promtool
SKIP: {
    skip 'promtool is not installed', 3 unless -x '/usr/bin/promtool';
    $t->write_file('scrape.prom', $m->{body});
    my $out = `promtool check metrics < $d/scrape.prom 2>&1`;
    is($?, 0, 'promtool check metrics passes');
    is($out, '', 'and has nothing to say');

    # every query of the Grafana dashboard parses, as recording rules
    my $dash = $SnapTest::json->decode(
        $t->read_file("$FindBin::Bin/../contrib/grafana-snap.json"));
    my @exprs = map { $_->{expr} } map { @{$_->{targets}} }
        @{$dash->{panels}};
    my $rules = "groups:\n  - name: dashboard\n    rules:\n";
    my $i = 0;
    for (@exprs) {
        (my $e = $_) =~ s/\$__rate_interval/5m/g;
        $e =~ s/\$(enforced|instance|partner)\b/.*/g;
        $e =~ s/'/''/g;
        $rules .= "      - record: snap:dashboard:" . $i++ . "\n"
            . "        expr: '$e'\n";
    }
    $t->write_file('dashboard.rules.yml', $rules);
    $out = `promtool check rules $d/dashboard.rules.yml 2>&1`;
    is($?, 0, scalar(@exprs) . ' queries of contrib/grafana-snap.json parse')
        or diag($out);
}

# only GET and HEAD
$r = $t->request(method => 'POST', path => '/snap/metrics', body => 'x');
is($r->{status}, 405, 'POST to the endpoint: 405');

###############################################################################
# reloads keep the counters

sub series_key {
    my ($s) = @_;
    return join ',', $s->[0], map { "$_=$s->[1]{$_}" } sort keys %{$s->[1]};
}
my %before = map { series_key($_) => $_->[2] }
    grep { $_->[0] =~ /_total$/ && $_->[2] > 0 } @{$m->{samples}};
$t->reload;
my $after = $t->scrape;
my $kept = grep { my $k = series_key($_);
    defined $before{$k} && $before{$k} == $_->[2] } @{$after->{samples}};
ok(keys %before > 20, scalar(keys %before) . ' non-zero counters');
is($kept, scalar keys %before, 'a reload keeps every one of them');
is(metric($after, 'snap_requests_total'), metric($m, 'snap_requests_total'),
    'a reload keeps snap_requests_total');
is(metric($after, 'snap_token_requests_total'),
    metric($m, 'snap_token_requests_total'), 'and the token counters');

# a reload that adds a partner: the others' counters stay
my $f = $t->partner('Fourth');
$t->reload(conf("snap_client Fourth public_key=$f->{pem} "
    . "secret_file=$f->{secret_file};"));
my $m2 = $t->scrape;
is(metric($m2, 'snap_requests_total', partner => 'QoinSnap'),
    metric($m, 'snap_requests_total', partner => 'QoinSnap'),
    'a reload adding a partner keeps the others\' counters');
ok(scalar(grep { $_->[0] eq 'snap_requests_total'
    && $_->[1]{partner} eq 'Fourth' } @{$m2->{samples}}),
    'and lists the new partner\'s series');
expect(notify(), 200, 'QoinSnap', 52, 'accepted', 'accepted after reloads');
my $n = metric($m2, 'snap_requests_total') + 1;
is(metric($t->scrape_when(sub { metric($_[0], 'snap_requests_total') == $n }),
    'snap_requests_total', partner => 'QoinSnap',
    outcome => 'accepted', service => 52),
    metric($m, 'snap_requests_total', partner => 'QoinSnap',
    outcome => 'accepted', service => 52) + 1, 'and counted on');

###############################################################################
# reloads that change the partners free the series no configuration lists
# any more: ten reloads, each naming a partner of its own, in a zone that
# holds the series of one configuration and a half

{
    my $c = SnapTest->new;
    my @ps = map { $c->partner("Churn$_", bits => 1024) } 1 .. 10;
    my $churn = sub {
        my ($cp) = @_;
        return <<"EOF";
    snap_client $cp->{id} public_key=$cp->{pem};
    snap_metrics_zone m:96k;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /n {
            snap_verify 52 signature=rsa;
            snap_replay off;
            proxy_pass http://127.0.0.1:1;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF
    };
    $c->run($churn->($ps[0]));
    my $listed = 0;
    for my $i (1 .. $#ps) {
        $c->reload($churn->($ps[$i]));
        my $s = $c->scrape;
        $listed++ if metric($s, 'snap_token_requests_total',
                partner => "Churn" . ($i + 1)) == 0
            && grep({ $_->[1]{partner} && $_->[1]{partner} eq "Churn" . ($i + 1) }
                @{$s->{samples}})
            && !grep({ $_->[1]{partner} && $_->[1]{partner} eq "Churn$i" }
                @{$s->{samples}});
    }
    is($listed, 9, 'nine reloads, each lists its own partner and no other');
    unlike($c->read_file('error.log'), qr/is too small/,
        'the zone never filled');
    like($c->read_file('error.log'),
        qr/snap_metrics_zone "m": \d+ series no longer listed by the configuration freed/,
        'each reload freed the series of the partner it removed');
    $c->stop;
    $c->check_log;
}

###############################################################################
# a real Prometheus server scrapes the endpoint

SKIP: {
    skip 'prometheus is not installed', 1 unless -x '/usr/bin/prometheus';
    my $pport = SnapTest::free_port();
    my $port = $t->port(0);
    $t->write_file('prometheus.yml', <<"EOF");
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: snap
    metrics_path: /snap/metrics
    static_configs:
      - targets: ['127.0.0.1:$port']
EOF
    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', "$d/prometheus.log";
        open STDERR, '>&', \*STDOUT;
        exec '/usr/bin/prometheus', "--config.file=$d/prometheus.yml",
            "--storage.tsdb.path=$d/tsdb",
            "--web.listen-address=127.0.0.1:$pport";
        die "exec prometheus: $!";
    }
    my $want = metric($t->scrape, 'snap_requests_total',
        partner => 'QoinSnap', service => 52, outcome => 'accepted',
        enforced => 'true');
    my $q = 'snap_requests_total%7Bpartner%3D%22QoinSnap%22%2Cservice'
        . '%3D%2252%22%2Coutcome%3D%22accepted%22%2Cenforced%3D%22true%22%7D';
    my $got;
    for (1 .. 120) {
        # refused until the server listens
        my $r = eval { $t->request(method => 'GET', port => $pport,
            path => "/api/v1/query?query=$q") } // {};
        if ($r->{json} && $r->{json}{data} && @{$r->{json}{data}{result}}) {
            $got = $r->{json}{data}{result}[0]{value}[1];
            last;
        }
        sleep 0.25;
    }
    kill 'TERM', $pid;
    waitpid $pid, 0;
    is($got, $want, "Prometheus scraped the counter through its API ($want)")
        or diag($t->read_file('prometheus.log'));
}

$t->stop_redis if $redis;
$t->done;
