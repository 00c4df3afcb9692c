#!/usr/bin/perl

# snap_sign when the provider's side goes wrong, and what nothing may
# expose: every way the token call can fail ends in the app's SNAP 5xx,
# the back-off and a counted fetch; a provider that refuses every token it
# issues is not asked for one per request; a request that waits for
# another's token call and whose client leaves is never sent; a token call
# nginx cannot finish preparing is never made; no variable and no
# subrequest carries the provider's token or nginx's signature.  The
# provider is the harness's own mock (t/lib/SnapProvider.pm) behind an
# nginx terminating TLS with a test CA.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);
use SnapTest;
use SnapProvider;

my $a = SnapTest->new;
my $front = SnapTest->new;
my $m = $a->partner('MERCHANT01');
my $d = $a->dir;

my $prov = SnapProvider->new(dir => $front->dir . '/provider',
    client_id => 'MERCHANT01', partner_id => 'MERCHANT01',
    channel_id => '95221', secret => $m->{secret},
    public_key => $a->read_file('MERCHANT01.pem'))->start;

my $ca = $front->test_ca('provider.test');
$front->run(<<"EOF");
    server {
        listen 127.0.0.1:%%PORT%% ssl;
        ssl_certificate $ca->{crt};
        ssl_certificate_key $ca->{key};
        location / { proxy_pass http://127.0.0.1:${\ $prov->port}; }
    }
EOF
my $pport = $front->port(0);
my $tls = "proxy_ssl_verify on; proxy_ssl_trusted_certificate $ca->{ca}; "
    . "proxy_ssl_server_name on; proxy_ssl_name provider.test;";
my $QRY = '/ordersnap/api/v1.0/qr/qr-mpm-query';
my $TOK = "https://127.0.0.1:$pport/api/v1.0/access-token/b2b";

# one provider for each way its token call fails, each with its own
# token cache slot and back-off; their token locations differ where the
# failure is nginx's (a read timeout, a certificate for another name)
my @shapes = (
    [ 'large', { token_pad => 20000 }, 'failed',
      'a 200 with a token, 20 KB: too large for a token\'s answer' ],
    [ 'page', { token_status => 403, token_pad => 12000 }, 'refused',
      'a CDN\'s 12 KB error page' ],
    [ 'reset', { token_reset => 1 }, 'failed', 'the connection reset' ],
    [ 'slow', { token_delay => 2 }, 'failed', 'no answer in time' ],
    [ 'tls', {}, 'failed', 'a certificate for another name' ],
    [ 'html', { token_html => 1 }, 'refused', 'a 200 that is not JSON' ],
    [ 'denied', { token_status => 403 }, 'refused', 'a 403' ],
    [ 'down', { token_status => 502 }, 'failed', 'a 502' ],
);

my ($providers, $locations) = ('', '');
for my $name ((map { $_->[0] } @shapes), qw(storm wait orphan)) {
    my $extra = $name eq 'slow' ? 'proxy_read_timeout 1s;' : '';
    (my $ttls = $tls) =~ s/provider\.test/impostor.test/ if $name eq 'tls';
    $ttls //= $tls;
    $providers .= <<"EOF";
    snap_provider $name client_id=MERCHANT01 private_key=$d/MERCHANT01.key
                  secret_file=$m->{secret_file} channel_id=95221
                  token=/_snap/$name/token;
EOF
    $locations .= <<"EOF";
        location = /_snap/$name/token {
            internal;
            snap_provider_token $name;
            proxy_pass $TOK;
            $ttls
            $extra
        }
        location = /$name {
            snap_sign $name 51 path=$QRY;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
EOF
}

$a->start_upstream;
$a->run(<<"EOF");
    snap_provider qoinhub client_id=MERCHANT01 private_key=$d/MERCHANT01.key
                  secret_file=$m->{secret_file} channel_id=95221
                  token=/_snap/qoinhub/token;
$providers
    snap_provider_zone snap_tokens:1m;
    snap_metrics_zone metrics:1m;
    log_format seen '[\$http_authorization] [\$http_x_signature] '
                    '\$snap_out_external_id \$request_uri \$status';

    server {
        listen 127.0.0.1:%%PORT%%;
        access_log $d/seen.log seen;

        location = /_snap/qoinhub/token {
            internal;
            snap_provider_token qoinhub;
            proxy_pass $TOK;
            proxy_set_header X-Echo-Signature \$http_x_signature;
            $tls
        }
$locations
        location = /vars {
            snap_sign qoinhub 51 path=$QRY;
            add_header X-Seen-Authorization "[\$http_authorization]" always;
            add_header X-Seen-Signature "[\$http_x_signature]" always;
            proxy_set_header X-Echo-Authorization \$http_authorization;
            proxy_set_header X-Echo-Signature \$http_x_signature;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
        location = /mirrored {
            snap_sign qoinhub 51 path=$QRY;
            mirror /mirror;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
        location = /mirror {
            internal;
            proxy_pass http://%%UPSTREAM%%/mirror;
        }
        location = /ssi {
            snap_sign qoinhub 51 path=$QRY;
            ssi on;
            ssi_types application/json;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
        location = /ssi-echo {
            proxy_pass http://%%UPSTREAM%%/ssi-echo;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF
$a->allow_log(qr/\[crit\].*SSL_do_handshake\(\) failed/);

my $query = '{"originalReferenceNo":"T24110003164","serviceCode":"51"}';

sub app {
    my ($path, $body, %o) = @_;
    return $a->request(method => 'POST', path => $path,
        body => $body // $query, port => $o{port},
        headers => [ 'Content-Type' => 'application/json' ]);
}

sub tokens { scalar(my @t = $prov->requests('token')) }
sub txs { grep { $_->{kind} eq 'transaction' } $prov->requests }

##############################################################################
# every way the token call fails: the same end

for my $s (@shapes) {
    my ($name, $set, $outcome, $what) = @$s;
    $prov->set($_ => $set->{$_}) for keys %$set;
    my $n = tokens();
    my $tx = scalar(my @t = txs());
    # the second call right after the first: the back-off is at least a
    # second, and the mock records a slow call only once it has given up
    my $r = app("/$name");
    my $r2 = app("/$name");
    is_snap_error($r, '5005102', 'External Server Error',
        "$what: the app gets its SNAP 5xx");
    # the mock records a call once it has answered it, or given up
    for (1 .. 80) {
        last if $name eq 'tls' || tokens() > $n;
        sleep 0.05;
    }
    is(tokens(), $n + ($name eq 'tls' ? 0 : 1),
        "$what: " . ($name eq 'tls' ? 'the provider got no token call'
                                    : 'after one token call'));
    is_snap_error($r2, '5005102', 'External Server Error',
        "$what: the next call, backed off");
    is(tokens(), $n + ($name eq 'tls' ? 0 : 1), "$what: no second token call");
    is(scalar(my @u = txs()), $tx, "$what: no transaction was sent");
    $prov->set($_) for keys %$set;
    # counted in the log phase, just after each answer went out
    my $mx = $a->scrape_when(sub {
        metric($_[0], 'snap_outbound_token_fetches_total', provider => $name)
            >= 1
        && metric($_[0], 'snap_outbound_requests_total', provider => $name)
            >= 2 });
    is(metric($mx, 'snap_outbound_token_fetches_total', provider => $name,
        outcome => $outcome), 1, "$what: one fetch counted $outcome");
    is(metric($mx, 'snap_outbound_requests_total', provider => $name,
        outcome => 'upstream'), 2, "$what: both calls counted upstream");
}
like($a->read_file('error.log'),
    qr/token call of provider "large" was answered with more than 16384 b/,
    'the error log says why');

# a token's answer of 12 KB is a token's answer, whatever
# subrequest_output_buffer_size says: the module keeps it itself
$prov->set(token_pad => 12000);
my $r = app('/vars');
$prov->set('token_pad');
is($r->{status}, 200, 'a token in a 12 KB answer: accepted');
unlike($a->read_file('error.log'), qr/too big subrequest response/,
    'nginx\'s in-memory subrequest buffer never held a token\'s answer');

##############################################################################
# a provider that refuses every token it issues (401xx01): six clients,
# ten calls each, make a token call or two, not one per call

{
    $prov->set(revoke_all => 1);
    my $n = tokens();
    my @kids;
    for my $k (1 .. 6) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open my $fh, '>', "$d/storm.$k" or POSIX::_exit(1);
            for (1 .. 10) {
                my $r = app('/storm');
                print $fh ($r->{json}{responseCode} // $r->{status}), "\n";
            }
            close $fh;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    my %codes;
    $codes{$_}++ for map { split /\n/, $a->read_file("storm.$_") } 1 .. 6;
    my $made = tokens() - $n;
    ok($made >= 1 && $made <= 2, "60 calls, every token refused: $made "
        . 'token calls') or diag(explain \%codes);
    is(($codes{4015101} // 0) + ($codes{5005102} // 0), 60,
        'each call got the provider\'s 401xx01 or 500xx02')
        or diag(explain \%codes);
    my $why = 'provider "storm" answered 4015101 to a token it never '
        . 'accepted a request with: .* no token call is made for 2 s';
    like($a->read_file('error.log'), qr/$why/,
        'the error log says why it backs off');
    $prov->set('revoke_all');
}

##############################################################################
# a request waiting for another's token call whose client leaves: its
# request ends there, it is never signed nor sent

{
    $prov->set(token_delay => 2);
    my $first = fork // die "fork: $!";
    if ($first == 0) {
        my $r = app('/wait', '{"originalReferenceNo":"FIRST"}');
        $a->write_file('wait.first', $r->{status});
        POSIX::_exit(0);
    }
    sleep 0.5;
    my $body = '{"originalReferenceNo":"LEFT"}';
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $a->port)
        or die "connect: $!";
    print $s SnapTest::raw_request('POST', '/wait',
        [ 'Content-Type' => 'application/json' ], $body);
    sleep 0.5;
    close $s;
    waitpid $first, 0;
    $prov->set('token_delay');
    sleep 0.5;
    is($a->read_file('wait.first'), 200, 'the request that fetched: 200');
    my @left = grep { ($_->{body} // '') =~ /LEFT/ } txs();
    is(scalar @left, 0, 'the one whose client left while it waited was '
        . 'never sent');
    like($a->read_file('seen.log'), qr{ /wait 499$}m,
        'it ended as 499, client closed');
}

##############################################################################
# a token call that cannot be made (its signature fails: gdb makes
# ngx_http_snap_rsa_sign return an error in the one worker) is refused
# before it exists: no subrequest goes to the provider for a request that
# has been answered

SKIP: {
    my $o = SnapTest->new(workers => 1);
    $o->write_file('m.key', $a->read_file('MERCHANT01.key'));
    $o->write_file('m.secret', "$m->{secret}\n");
    my $od = $o->dir;
    $o->run(<<"EOF");
    snap_provider orphan client_id=MERCHANT01 private_key=$od/m.key
                  secret_file=$od/m.secret channel_id=95221
                  token=/_snap/orphan/token;
    snap_provider_zone snap_tokens:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /_snap/orphan/token {
            internal;
            snap_provider_token orphan;
            proxy_pass $TOK;
            $tls
        }
        location = /orphan {
            snap_sign orphan 51 path=$QRY;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
    }
EOF
    my ($w) = $o->worker_pids;
    my $gdb = $o->gdb($w, 'break ngx_http_snap_rsa_sign', 'continue',
        'return 1', 'delete', 'detach');
    skip 'gdb cannot attach to a worker here', 4 unless $gdb;
    my $n = tokens();
    my $r = $o->request(method => 'POST', path => '/orphan', body => $query,
        headers => [ 'Content-Type' => 'application/json',
                     'Authorization' => 'Bearer app-secret-value' ]);
    ok($o->gdb_wait($gdb, 5), 'the token call\'s signature failed (gdb)');
    is_snap_error($r, '5005100', 'General Error',
        'a token call that cannot be signed: 500xx00');
    sleep 1;
    is(tokens(), $n, 'and no token call reached the provider');
    like($o->read_file('error.log'),
        qr/could not sign the token call of provider "orphan"/,
        'the error log says why');
    $o->stop;
    $o->check_log;
}

##############################################################################
# no variable yields the provider's token or nginx's signature, not even
# in the signing location

{
    $r = app('/vars');
    is($r->{status}, 200, 'variables: the call is signed and accepted');
    is($r->{headers}{'x-seen-authorization'}, '[]',
        '$http_authorization is empty in add_header');
    is($r->{headers}{'x-seen-signature'}, '[]',
        '$http_x_signature is empty in add_header');
    my ($tx) = grep { $_->{path} eq $QRY } reverse txs();
    like($tx->{headers}{authorization} // '', qr/^Bearer tok/,
        'the provider got the token in Authorization');
    ok(!exists $tx->{headers}{'x-echo-authorization'}
        && !exists $tx->{headers}{'x-echo-signature'},
        'and nothing in the headers proxy_set_header made of the variables');
    my ($tok) = grep { $_->{verdict} eq 'issued' } $prov->requests('token');
    ok(!exists $tok->{headers}{'x-echo-signature'},
        'the token call\'s signature is hidden from its location too');
    my @seen = grep { / \d{36} / } split /\n/, $a->read_file('seen.log');
    ok(@seen > 0 && !(grep { !/^\[-\] \[-\] / } @seen),
        'the access log has no token and no signature');
}

##############################################################################
# subrequests of a signed request (mirror, SSI) carry neither

{
    $r = app('/mirrored');
    is($r->{status}, 200, 'mirror: the signed call is accepted');
    my @mirror;
    for (1 .. 40) {
        @mirror = grep { $_->{line} =~ m{^POST /mirror } }
            $a->upstream_requests;
        last if @mirror;
        sleep 0.05;
    }
    is(scalar @mirror, 1, 'mirror: its copy was sent');
    ok(!exists $mirror[0]{headers}{authorization}
        && !exists $mirror[0]{headers}{'x-signature'},
        'mirror: without Authorization and X-SIGNATURE');
    is($mirror[0]{body}, $query, 'mirror: with the body');

    $prov->set(tx_append => '<!--# include virtual="/ssi-echo" -->');
    $r = app('/ssi');
    $prov->set('tx_append');
    is($r->{status}, 200, 'ssi: the signed call is accepted');
    my @ssi = grep { $_->{line} =~ m{^GET /ssi-echo } } $a->upstream_requests;
    is(scalar @ssi, 1, 'ssi: the answer\'s include was made');
    ok(!exists $ssi[0]{headers}{authorization}
        && !exists $ssi[0]{headers}{'x-signature'},
        'ssi: without Authorization and X-SIGNATURE');

    my @tokens = map { $_->{headers}{authorization} =~ /^Bearer (\S+)/ }
        grep { $_->{headers}{authorization} } txs();
    my $all = join '', map { $_->{raw} } $a->upstream_requests;
    ok(@tokens && !(grep { index($all, $_) >= 0 } @tokens),
        'no provider token in anything a subrequest sent');
}

$prov->stop;
$front->stop;
$front->check_log;
$a->done;
