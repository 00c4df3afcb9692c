#!/usr/bin/perl

# Who may call what: snap_clients per location (transactional and token
# calls, over HTTP/1.1 and HTTP/2), an RSA-only partner (signature=rsa),
# two partners sharing a key refused by nginx -t, the warning for a
# snap_verify without snap_replay, and rate= counting verified requests
# only, so a forger who knows a partner's id cannot spend its quota.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use SnapTest;

my $t = SnapTest->new;
my $notify = $t->partner('Notify01');
my $bank = $t->partner('Bank01');
my $other = $t->partner('Other01');
my $fast = $t->partner('Rated01');
my $key = $t->token_key('token.key');

my $N = '/api/v1.0/qr/qr-mpm-notify';
my $body = '{"originalReferenceNo":"T1","latestTransactionStatus":"00"}';

my $http = <<"EOF";
    snap_client Notify01 public_key=$notify->{pem}
                secret_file=$notify->{secret_file};
    snap_client Bank01 public_key=$bank->{pem} signature=rsa;
    snap_client Other01 public_key=$other->{pem}
                secret_file=$other->{secret_file};
    snap_client Rated01 public_key=$fast->{pem}
                secret_file=$fast->{secret_file} rate=2r/s;
    snap_token_key $key;
    snap_replay_zone ids:1m;
    snap_metrics_zone metrics:1m;

    log_format snap '\$request_uri client=\$snap_client_id '
                    'code=\$snap_response_code reason=\$snap_reject_reason';

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_1%% http2;
        access_log %%DIR%%/snap.log snap;

        location = /token {
            snap_token;
            snap_clients Notify01 Bank01 Rated01;
        }
        location = /token-all { snap_token; }

        location = /notify {
            snap_verify 52;
            snap_signed_path $N;
            snap_clients Notify01 Rated01;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /bank {
            snap_verify 52 signature=rsa;
            snap_signed_path $N;
            snap_clients Bank01;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /open {
            snap_verify 52;
            snap_signed_path $N;
            snap_replay off;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /snap/metrics { snap_metrics; }
    }
EOF

$t->start_upstream;
my ($ok, $out) = $t->test_config($http);
ok($ok, 'snap_clients, signature=rsa and rate=: nginx -t passes')
    or diag($out);
unlike($out, qr/secret_file|snap_replay/,
    'an RSA-only partner beside HMAC locations: no emerg, no warn, and '
    . 'no replay warning where snap_replay is said');
$t->run($http);

sub ups { scalar(my @u = $t->upstream_requests) }

# the access log line of a request, written once its answer went out
sub logged { $t->logged('snap.log', $_[0]) }

my %token = map { $_->{id} => $t->get_token($_) } $notify, $fast;

##############################################################################
# snap_clients: a partner outside the list, even with a good signature

my $n = ups();
# Notify01 signs with its RSA key (type 2) for the bank's location
my $r = $t->snap($notify, path => '/bank', signed_path => $N, body => $body);
is_snap_error($r, '4015200', 'Unauthorized. [Unknown client]',
    'a partner not in snap_clients, RSA-signed: refused');
like(logged(qr{^/bank client=Notify01 }), qr{^/bank client=Notify01 code=4015200 reason=client_not_allowed$},
    'attributed, reason client_not_allowed');
is(ups(), $n, 'the upstream never saw it');
like($t->read_file('error.log'),
    qr/snap: client "Notify01" is not among this location's "snap_clients" \(\S+nginx\.conf:\d+\)/,
    'the error log names the partner and the directive');

$r = $t->snap($bank, path => '/bank', signed_path => $N, body => $body);
is($r->{status}, 200, 'the listed partner: accepted');
is(ups(), $n + 1, 'and passed on');

$r = $t->snap($other, path => '/notify', signed_path => $N, body => $body,
    token => $t->get_token($other, path => '/token-all'));
is_snap_error($r, '4015200', 'Unauthorized. [Unknown client]',
    'HMAC: a partner not in snap_clients, with a valid token: refused');
is(ups(), $n + 1, 'never passed on');

$r = $t->snap($notify, path => '/notify', signed_path => $N, body => $body,
    token => $token{Notify01});
is($r->{status}, 200, 'HMAC: the listed partner: accepted');

# the token call
$r = $t->request(path => '/token', headers => $t->token_headers($other),
    body => '{"grantType":"client_credentials"}');
is_snap_error($r, '4017300', 'Unauthorized. [Unknown client]',
    'a token call from a partner not in snap_clients: refused');
ok(!($r->{json} && $r->{json}{accessToken}), 'no token issued');
like(logged(qr{^/token client=Other01 }), qr{^/token client=Other01 code=4017300 reason=client_not_allowed$},
    'the token call attributed, reason client_not_allowed');

# over HTTP/2, the same.  The refusals are sent without a body: nginx
# answers them before reading one, then resets the stream it no longer
# reads (RST_STREAM NO_ERROR after the whole answer, as RFC 9113 allows),
# which curl 7.88 reports as error 92 when the reset outruns its upload.
my $h = $t->snap_headers($notify, path => $N, body => '');
$r = $t->h2(path => '/bank', headers => $h,
    body => '');
is("$r->{version} $r->{status} " . ($r->{json}{responseCode} // ''),
    '2 401 4015200', 'HTTP/2: a partner not in snap_clients: refused');
is($r->{json}{responseMessage}, 'Unauthorized. [Unknown client]',
    'HTTP/2: with its message');
$r = $t->h2(path => '/token', headers => $t->token_headers($other),
    body => '');
is("$r->{version} $r->{status} " . ($r->{json}{responseCode} // ''),
    '2 401 4017300', 'HTTP/2: the token call refused too');
$h = $t->snap_headers($bank, path => $N, body => $body);
$r = $t->h2(path => '/bank', headers => $h,
    body => $body);
is("$r->{version} $r->{status}", '2 200', 'HTTP/2: the listed partner '
    . 'accepted');

##############################################################################
# an RSA-only partner: its token calls work, HMAC locations refuse it

my $btok = $t->get_token($bank);
ok($btok, 'an RSA-only partner gets a token');
$r = $t->snap($bank, path => '/open', signed_path => $N, body => $body,
    token => $btok, secret => 'any');
is_snap_error($r, '4015200', 'Unauthorized. [Unknown client]',
    'an RSA-only partner in an HMAC location: refused');
like(logged(qr{^/open client=Bank01 }), qr{^/open client=Bank01 code=4015200 reason=client_not_allowed$},
    'reason client_not_allowed');
like($t->read_file('error.log'),
    qr/snap: client "Bank01" signs with RSA only \("signature=rsa"\), and this location verifies HMAC signatures/,
    'the error log says why');

$h = $t->snap_headers($bank, path => $N, body => '', token => $btok,
    secret => 'any');
$r = $t->h2(path => '/open', headers => $h,
    body => '');
is("$r->{version} $r->{status} " . ($r->{json}{responseCode} // ''),
    '2 401 4015200', 'HTTP/2: an RSA-only partner in an HMAC location: '
    . 'refused');

my $m = $t->scrape;
ok(metric($m, 'snap_requests_total', partner => 'Notify01',
    outcome => 'client_not_allowed') >= 2,
    'snap_requests_total counts client_not_allowed for the partner');
ok(metric($m, 'snap_token_requests_total', partner => 'Other01',
    outcome => 'client_not_allowed') >= 1,
    'snap_token_requests_total too');

##############################################################################
# rate=: verified requests only; a forger with the id spends nothing

$n = ups();
my $forged = 0;
for (1 .. 20) {
    $r = $t->snap($fast, path => '/notify', signed_path => $N, body => $body,
        token => $token{Rated01}, secret => 'not-the-secret');
    $forged++ if ($r->{json}{responseCode} // '') eq '4015200'
        && $r->{json}{responseMessage} eq 'Unauthorized. [Signature]';
}
is($forged, 20, 'twenty forged requests under Rated01\'s id: refused as '
    . 'forged');
my @codes;
my @ids = map { external_id() } 1 .. 3;
for my $id (@ids) {
    $r = $t->snap($fast, path => '/notify', signed_path => $N, body => $body,
        token => $token{Rated01}, external_id => $id);
    push @codes, $r->{status} . ' ' . ($r->{json}{responseCode} // '');
}
is_deeply([ @codes[0, 1] ], [ '200 2005200', '200 2005200' ],
    'rate=2r/s: the partner\'s own two requests pass, the forgeries did not '
    . 'count') or diag("@codes");
is($codes[2], '429 4295200', 'the third at once: 429xx00');
is($r->{json}{responseMessage}, 'Too Many Requests', 'Too Many Requests');
like(logged(qr{client=Rated01 code=429}), qr{^/notify client=Rated01 code=4295200 reason=rate_limited$},
    'reason rate_limited');
is(ups(), $n + 2, 'two reached the app');
sleep 1.2;
$r = $t->snap($fast, path => '/notify', signed_path => $N, body => $body,
    token => $token{Rated01}, external_id => $ids[2]);
is($r->{status}, 200, 'the refused request\'s retry, a second later, '
    . 'passes: its X-EXTERNAL-ID was not used up');

# over HTTP/2: the bucket is the partner's, whatever the protocol
sleep 1.2;
my @h2codes;
for (1 .. 3) {
    $h = $t->snap_headers($fast, path => $N, body => $body,
        token => $token{Rated01});
    $r = $t->h2(path => '/notify', headers => $h,
    body => $body);
    push @h2codes, "$r->{version} $r->{status} "
        . ($r->{json}{responseCode} // '');
}
is_deeply(\@h2codes, [ '2 200 2005200', '2 200 2005200', '2 429 4295200' ],
    'HTTP/2: two pass, the third at once is 429xx00');

##############################################################################
# nginx -t

sub conf_with {
    my ($clients, $extra) = @_;
    return <<"EOF";
    $clients
    snap_token_key $key;
    snap_replay_zone ids:1m;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        $extra
    }
EOF
}

my $c = SnapTest->new;
$c->write_file('copy.pem', $t->read_file('Notify01.pem'));
$c->write_file('same.secret', "secret-of-Notify01-0123456789\n");
my $cd = $c->dir;

$c->config_fails(conf_with(
    "snap_client Notify01 public_key=$notify->{pem} "
    . "secret_file=$notify->{secret_file};",
    "location = /n { snap_verify 52; snap_replay ids;\n"
    . "            snap_clients Notify01 Nobody; }"),
    qr/"snap_clients" names "Nobody", which no snap_client declares in \S+nginx\.conf:\d+/,
    'snap_clients naming an undeclared partner');
$c->config_fails(conf_with(
    "snap_client Notify01 public_key=$notify->{pem} "
    . "secret_file=$notify->{secret_file};",
    "location = /n { snap_verify 52; snap_replay ids;\n"
    . "            snap_clients notify01; }"),
    qr/"snap_clients" names "notify01", which no snap_client declares \("Notify01" differs in case\) in \S+nginx\.conf:\d+/,
    'snap_clients with the id in another case');
$c->config_fails(conf_with(
    "snap_clients Nobody;\n"
    . "    snap_client Notify01 public_key=$notify->{pem} "
    . "secret_file=$notify->{secret_file};", ''),
    qr/"snap_clients" names "Nobody", which no snap_client declares in \S+nginx\.conf:\d+/,
    'snap_clients at http level, checked as well');
$c->config_fails(conf_with(
    "snap_client Notify01 public_key=$notify->{pem} "
    . "secret_file=$notify->{secret_file};\n"
    . "    snap_client Copy01 public_key=$cd/copy.pem "
    . "secret_file=$other->{secret_file};", ''),
    qr/snap_client "Notify01" \(\S+nginx\.conf:\d+\) and "Copy01" \(\S+nginx\.conf:\d+\) share a public key or a secret/,
    'two partners sharing a public key');
$c->config_fails(conf_with(
    "snap_client Notify01 public_key=$notify->{pem} "
    . "secret_file=$notify->{secret_file};\n"
    . "    snap_client Copy01 public_key=$other->{pem} "
    . "secret_file=$cd/same.secret;", ''),
    qr/snap_client "Notify01" \(\S+nginx\.conf:\d+\) and "Copy01" \(\S+nginx\.conf:\d+\) share a public key or a secret/,
    'two partners sharing a secret');
$c->config_fails(conf_with(
    "snap_client Bank01 secret_file=$bank->{secret_file} signature=rsa;", ''),
    qr/snap_client "Bank01" with "signature=rsa" needs public_key=/,
    'signature=rsa without a public key');
$c->config_fails(conf_with(
    "snap_client Bank01 public_key=$bank->{pem} "
    . "secret_file=$bank->{secret_file} signature=rsa;", ''),
    qr/snap_client "Bank01" with "signature=rsa" takes no secret_file=/,
    'signature=rsa with a secret');
$c->config_fails(conf_with(
    "snap_client Bank01 public_key=$bank->{pem} signature=hmac;", ''),
    qr/invalid "signature=hmac" for client "Bank01", expected "signature=rsa"/,
    'signature= other than rsa');
$c->config_fails(conf_with(
    "snap_client Bank01 public_key=$bank->{pem} rate=fast;", ''),
    qr/invalid "rate=fast" for client "Bank01", expected requests a second or a minute/,
    'rate= that is no rate');
$c->config_fails(conf_with(
    "snap_client Bank01 public_key=$bank->{pem};",
    "location = /n { snap_verify 52; snap_replay ids; }"),
    qr/snap_client "Bank01" has no secret_file, and the HMAC "snap_verify" in \S+nginx\.conf:\d+ would refuse all its requests: give it secret_file=, or "signature=rsa"/,
    'a partner without secret_file nor signature=rsa, HMAC only: still '
    . 'refused, with the way out');

# snap_verify without snap_replay: a warn, silenced by "snap_replay off"
my $plain = "snap_client Notify01 public_key=$notify->{pem} "
    . "secret_file=$notify->{secret_file};";
($ok, $out) = $c->test_config(conf_with($plain,
    "location = /n { snap_verify 52; }"));
ok($ok, 'snap_verify without snap_replay: nginx -t passes');
like($out, qr/\[warn\] "snap_verify" in \S+nginx\.conf:(\d+) has no "snap_replay": a request sent again with the same X-EXTERNAL-ID reaches the app again; name a zone with "snap_replay", or say "snap_replay off;"/,
    'and warns, with the snap_verify\'s file and line');
my ($line) = $out =~ /"snap_verify" in \S+nginx\.conf:(\d+)/;
my @conf = split /\n/, $c->read_file('nginx.conf');
like($conf[($line // 1) - 1] // '', qr/snap_verify 52/,
    'the line is the snap_verify\'s');
($ok, $out) = $c->test_config(conf_with($plain,
    "location = /n { snap_verify 52; snap_replay off; }"));
ok($ok && $out !~ /snap_replay/, '"snap_replay off;" silences it');
($ok, $out) = $c->test_config(conf_with($plain,
    "snap_replay ids;\n        location = /n { snap_verify 52; }"));
ok($ok && $out !~ /has no "snap_replay"/,
    'a snap_replay inherited from the server: no warning');

$c->stop;
$t->done;
