#!/usr/bin/perl

# Outbound signing: a legacy merchant app posts plain JSON to nginx, and
# nginx does SNAP on the way out (snap_sign).  The provider is a mock of
# the harness's own (t/lib/SnapProvider.pm, its own RSA and HMAC code)
# behind an nginx that terminates TLS with a test CA; nginx A verifies its
# certificate.  At the end, A signs for a second nginx, B, that verifies
# with the module's inbound side: the request reaches B's upstream
# verified.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use IO::Select;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use SnapTest;
use SnapProvider;

my $json = JSON::PP->new->canonical;

my $a = SnapTest->new;                 # the merchant's nginx
my $front = SnapTest->new;             # TLS in front of the mock provider
my $m = $a->partner('MERCHANT01');     # the merchant's key pair and secret
my $d = $a->dir;

my $prov = SnapProvider->new(dir => $front->dir . '/provider',
    client_id => 'MERCHANT01', partner_id => 'MERCHANT01',
    channel_id => '95221', secret => $m->{secret},
    public_key => $a->read_file("MERCHANT01.pem"))->start;

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
    . "proxy_ssl_name provider.test; proxy_ssl_server_name on;";

my $QRY = '/ordersnap/api/v1.0/qr/qr-mpm-query';

my $provider_conf = <<"EOF";
    snap_provider qoinhub client_id=MERCHANT01 private_key=$d/MERCHANT01.key
                  secret_file=$m->{secret_file} partner_id=MERCHANT01
                  channel_id=95221 token=/_snap/qoinhub/token;
    snap_provider_zone snap_tokens:1m;
EOF

sub conf {
    my (%o) = @_;
    my $extra = $o{extra} // '';
    return $provider_conf . <<"EOF";
    snap_provider elsewhere client_id=MERCHANT01
                  private_key=$d/MERCHANT01.key
                  secret_file=$m->{secret_file} token=/_snap/elsewhere;
    snap_provider badtls client_id=MERCHANT01
                  private_key=$d/MERCHANT01.key
                  secret_file=$m->{secret_file} token=/_snap/badtls/token;
    log_format out '\$snap_out_provider \$snap_out_token_source '
                   '\$snap_out_external_id \$snap_out_timestamp \$pid';
    underscores_in_headers on;
    client_body_buffer_size 1k;
    snap_metrics_zone metrics:1m;
    $extra
    server {
        listen 127.0.0.1:%%PORT%% reuseport;
        access_log $d/out.log out;
        # README's recipe: what went out, and who answered, on every answer
        add_header X-Snap-Out-External-Id \$snap_out_external_id always;
        add_header X-Snap-Out-Timestamp \$snap_out_timestamp always;
        add_header X-Snap-Refused-By-Nginx \$snap_response_code always;

        location = /_snap/qoinhub/token {
            internal;
            snap_provider_token qoinhub;
            proxy_pass https://127.0.0.1:$pport/api/v1.0/access-token/b2b;
            $tls
        }
        location = /ordersnap/api/v1.0/qr/qr-mpm-generate {
            snap_sign qoinhub qr-mpm-generate;
            proxy_pass https://127.0.0.1:$pport;
            $tls
        }
        location /ordersnap/api/v1.0/qr/ {
            snap_sign qoinhub;
            proxy_pass https://127.0.0.1:$pport;
            $tls
        }
        location = /legacy/query {
            snap_sign qoinhub qr-mpm-query
                      path=/ordersnap/api/v1.0/qr/qr-mpm-query?src=legacy;
            proxy_pass https://127.0.0.1:$pport/ordersnap/api/v1.0/qr/qr-mpm-query?src=legacy;
            $tls
        }
        location = /dead {
            snap_sign qoinhub 47;
            proxy_pass https://127.0.0.1:1;
        }
        # token= of "elsewhere" leads to a location that is not its token
        # location, and that answers a token: it must not be taken (a
        # regex token location is taken on trust by nginx -t, so this is
        # what run time must catch)
        location ~ ^/_snap/elsewhere/token\$ {
            internal;
            snap_provider_token elsewhere;
            rewrite ^ /api/v1.0/access-token/b2b break;
            proxy_pass https://127.0.0.1:$pport;
            $tls
        }
        location = /_snap/elsewhere {
            internal;
            return 200 '{"responseCode":"2007300","accessToken":"planted","expiresIn":"900"}';
        }
        # a certificate that is not the provider's name
        location = /_snap/badtls/token {
            internal;
            snap_provider_token badtls;
            proxy_pass https://127.0.0.1:$pport/api/v1.0/access-token/b2b;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate $ca->{ca};
            proxy_ssl_name impostor.test;
            proxy_ssl_server_name on;
        }
        location = /badtls {
            snap_sign badtls 51;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
        location = /elsewhere {
            snap_sign elsewhere 51;
            proxy_pass https://127.0.0.1:$pport$QRY;
            $tls
        }
        location = /ids {
            snap_sign qoinhub;
            proxy_pass http://127.0.0.1:%%PORT_1%%;
        }
        location = /snap/metrics { snap_metrics; }
    }
    server {
        listen 127.0.0.1:%%PORT_1%%;
        access_log off;
        location / { return 200 '\$http_x_external_id'; }
    }
EOF
}

my $generate = <<'JSON';
{
  "partnerReferenceNo": "TestPartNo0002",
  "amount": { "value": "10000.00", "currency": "IDR" },
  "merchantId": "",
  "storeId": "",
  "validityPeriod": "2025-12-04T11:00:00+07:00",
  "additionalInfo": {
    "acquirer": 3,
    "items": [ { "id": "idasd1239aks001", "name": "Qris", "quantity": "1",
                 "price": { "value": 10, "currency": "IDR" } } ],
    "customerDetails": { "email": "john@example.com", "firstName": "John.",
                         "lastName": "Doe", "phone": "085688983935" }
  }
}
JSON
my $query = qq({ "originalReferenceNo" : "T24110003164",\n  "serviceCode": "51" });
my $expire = qq({"billnumber" : "10092081", "additionalInfo" : { "merchantId" : "QNB0001" } });

my $GEN = '/ordersnap/api/v1.0/qr/qr-mpm-generate';
my $EXP = '/ordersnap/api/v1.0/qr/qr-mpm-expire-billnumber';

sub app {
    my ($path, $body, %o) = @_;
    return $a->request(method => $o{method} // 'POST', path => $path,
        body => $body, headers => [ 'Content-Type' => 'application/json',
            @{$o{headers} || []} ], port => $o{port});
}

sub last_tx { (grep { $_->{kind} eq 'transaction' } $prov->requests)[-1] }
sub tokens { scalar(my @t = $prov->requests('token')) }
sub txs { scalar(my @t = $prov->requests('transaction')) }

##############################################################################
# nginx -t

{
    my $t = SnapTest->new;
    my $tm = $t->partner('M');
    my $td = $t->dir;
    my $loc = <<"EOF";
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /t { internal; snap_provider_token p; proxy_pass http://127.0.0.1:1; }
        location = /s { snap_sign p; proxy_pass http://127.0.0.1:1; }
    }
EOF
    my $prov_line = sub {
        "snap_provider p client_id=M $_[0] token=/t;\n"
        . "snap_provider_zone tok:1m;\n";
    };
    my $ok = "private_key=$td/M.key secret_file=$tm->{secret_file}";

    my ($good) = $t->test_config($prov_line->($ok) . $loc);
    ok($good, 'nginx -t: a complete outbound configuration passes');

    $t->config_fails($prov_line->("private_key=$td/none.key "
        . "secret_file=$tm->{secret_file}") . $loc,
        qr/none\.key.*failed.*nginx\.conf:\d+/s, 'a missing private key file');
    $t->config_fails($prov_line->("private_key=$td "
        . "secret_file=$tm->{secret_file}") . $loc,
        qr/could not read.*nginx\.conf:\d+/s,
        'an unreadable private key file (a directory)');
    $t->config_fails($prov_line->("private_key=$td/M.pem "
        . "secret_file=$tm->{secret_file}") . $loc,
        qr/holds no private key but a public key.*nginx\.conf:\d+/s,
        'a public key where the private key belongs');
    $t->write_file('garbage.key', "-----BEGIN PRIVATE KEY-----\nAAAA\n"
        . "-----END PRIVATE KEY-----\n");
    $t->config_fails($prov_line->("private_key=$td/garbage.key "
        . "secret_file=$tm->{secret_file}") . $loc,
        qr/no unencrypted PEM RSA private key/, 'a broken private key');
    $t->config_fails($prov_line->("private_key=$td/M.key "
        . "secret_file=$td/none.secret") . $loc,
        qr/none\.secret.*failed/, 'a missing secret file');
    $t->config_fails("snap_provider p client_id=M $ok;\n"
        . "snap_provider_zone tok:1m;\n" . $loc,
        qr/needs client_id=, private_key=, secret_file= and token=/,
        'no token=');
    (my $unknown = $loc) =~ s/snap_sign p;/snap_sign q;/;
    $t->config_fails($prov_line->($ok) . $unknown,
        qr/unknown snap_provider "q" in \S+nginx\.conf:\d+/,
        'an unknown provider in snap_sign, with file and line');
    ($unknown = $loc) =~ s/snap_provider_token p;/snap_provider_token q;/;
    $t->config_fails($prov_line->($ok) . $unknown,
        qr/unknown snap_provider "q" in \S+nginx\.conf:\d+/,
        'an unknown provider in snap_provider_token');
    (my $notoken = $loc) =~ s/snap_provider_token p;//;
    $t->config_fails($prov_line->($ok) . $notoken,
        qr/no location has "snap_provider_token p"/,
        'snap_sign without a token location');
    (my $public = $loc) =~ s/internal; //;
    $t->config_fails($prov_line->($ok) . $public,
        qr/must be "internal"/, 'a token location that is not internal');
    $t->config_fails("snap_provider p client_id=M $ok token=/t;\n" . $loc,
        qr/needs "snap_provider_zone"/, 'no snap_provider_zone');
    $t->config_fails($prov_line->($ok) . "snap_replay_zone tok:1m;\n" . $loc,
        qr/tok/, 'one name for a token zone and a replay zone');
    (my $mixed = $loc) =~ s/snap_sign p;/snap_sign p; snap_verify 47 signature=rsa;/;
    $t->config_fails($prov_line->($ok) . $mixed,
        qr/cannot be mixed/, 'snap_sign with snap_verify');
    (my $svc = $loc) =~ s/snap_sign p;/snap_sign p qr-nothing;/;
    $t->config_fails($prov_line->($ok) . $svc,
        qr/unknown SNAP service "qr-nothing"/, 'an unknown service');
    $t->config_fails($prov_line->($ok . " client_id=N") . $loc,
        qr/duplicate parameter "client_id"/, 'a repeated parameter');

    # a token of up to 4 KB a provider: a zone says how many it holds
    my ($many, $locs) = ('', '');
    for my $i (0 .. 9) {
        $many .= "snap_provider p$i client_id=M $ok token=/t$i;\n";
        $locs .= "location = /t$i { internal; snap_provider_token p$i; "
            . "proxy_pass http://127.0.0.1:1; }\n";
    }
    $t->config_fails($many . "snap_provider_zone tok:32k;\n"
        . "server { listen 127.0.0.1:%%PORT%%;\n$locs}\n",
        qr/snap_provider_zone "tok" of 32k holds the tokens of \d providers \(a token of up to 4096 bytes takes \d+\), not the 10 configured: make it at least \d+k/,
        'a token zone too small for its providers, with what it holds');
}

##############################################################################
# signed calls, accepted by the provider

$a->run(conf());

my $r = app($GEN, $generate);
is($r->{status}, 200, 'generate: the provider accepted the signed call')
    or diag($r->{raw});
is($r->{json}{responseCode}, '2004700', 'and its answer reached the app');
my $tx = last_tx();
is($tx->{verdict}, 'accepted', 'the provider verified signature and token');
is($tx->{body}, SnapTest::minify($generate),
    'the provider received the minified body, whose hash was signed');
is($tx->{path}, $GEN, 'at the path the app called');
like($tx->{headers}{'x-external-id'}, qr/^\d{36}$/,
    'X-EXTERNAL-ID: 36 digits');
like($tx->{headers}{'x-timestamp'},
    qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$/, 'X-TIMESTAMP in +07:00');
is($tx->{headers}{'content-type'}, 'application/json', 'Content-Type');
is(tokens(), 1, 'one token call');
my ($tok) = $prov->requests('token');
is($tok->{verdict}, 'issued', 'the token call was signed with the '
    . 'merchant key (SHA256withRSA over clientId|X-TIMESTAMP)');
is($tok->{body}, '{"grantType":"client_credentials"}', 'its body');
ok(!exists $tok->{headers}{'x-external-id'}
    && !exists $tok->{headers}{authorization},
    'nothing of the app request went to the token endpoint');

$r = app($QRY, $query);
is($r->{status}, 200, 'query: accepted');
is(last_tx()->{verdict}, 'accepted', 'query verified');
$r = app($EXP, $expire);
is($r->{status}, 200, 'expire: accepted');
is(last_tx()->{verdict}, 'accepted', 'expire verified');
is(tokens(), 1, 'the token was fetched once and reused');

my @log = split /\n/, $a->read_file('out.log');
like($log[0], qr/^qoinhub fetched \d{36} \S+\+07:00 \d+$/,
    '$snap_out_*: the first request fetched the token');
like($log[1], qr/^qoinhub cache \d{36} /, 'the next used the cache');
my ($id0) = $log[0] =~ /^\S+ \S+ (\d{36})/;
my @all = $prov->requests('transaction');
is($all[0]{headers}{'x-external-id'}, $id0,
    '$snap_out_external_id is the id sent');

# the query string is sent and signed
$r = app("$QRY?channel=web&x=1", $query);
is($r->{status}, 200, 'a query string: signed as sent');
is(last_tx()->{path}, "$QRY?channel=web&x=1", 'the provider got it');

# path=: a location that maps the path signs what it sends
$r = app('/legacy/query', $query);
is($r->{status}, 200, 'path=: the remapped path signed');
is(last_tx()->{path}, "$QRY?src=legacy", 'as the provider received it');

# chunked, and a body in a temp file (client_body_buffer_size 1k)
my $big = $json->encode({ originalReferenceNo => 'T' . ('9' x 3000),
    serviceCode => '51' });
$r = app($QRY, "$big\n\n");
is($r->{status}, 200, 'a body read to a temp file');
is(last_tx()->{body}, $big, 'sent minified');

my $chunked = "POST $QRY HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
    . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
my $q1 = substr($query, 0, 10);
my $q2 = substr($query, 10);
$chunked .= sprintf("%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", length $q1, $q1,
    length $q2, $q2);
$r = SnapTest::parse_response($a->http($chunked));
is($r->{status}, 200, 'a chunked body');
is(last_tx()->{body}, SnapTest::minify($query), 'sent minified');
ok(!exists last_tx()->{headers}{'transfer-encoding'},
    'with a Content-Length');

# the app's own SNAP headers never reach the provider
my $before = txs();
$r = app($GEN, $generate, headers => [
    'X-SIGNATURE' => 'forged', 'Authorization' => 'Bearer forged',
    'X-TIMESTAMP' => '2020-01-01T00:00:00+07:00', 'X-PARTNER-ID' => 'EVIL',
    'X_PARTNER_ID' => 'EVIL2', 'X-EXTERNAL-ID' => '1', 'CHANNEL-ID' => '1',
    'X-CLIENT-KEY' => 'EVIL', 'X-Trace' => 'kept' ]);
is($r->{status}, 200, 'app-sent SNAP headers: still accepted');
$tx = last_tx();
is($tx->{verdict}, 'accepted', 'verified with nginx\'s headers');
is(join(',', map { $tx->{count}{$_} } qw(x-signature authorization
    x-timestamp x-partner-id x-external-id channel-id)), '1,1,1,1,1,1',
    'each SNAP header once, X_PARTNER_ID included');
is($tx->{headers}{'x-partner-id'}, 'MERCHANT01', 'nginx\'s X-PARTNER-ID');
ok(!exists $tx->{headers}{'x-client-key'}, 'X-CLIENT-KEY dropped');
is($tx->{headers}{'x-trace'}, 'kept', 'other app headers pass');

##############################################################################
# refused locally: nothing sent

$before = txs();
$r = app($GEN, '{"partnerReferenceNo": "x",');
is_snap_error($r, '4004700', 'Bad Request', 'not JSON: 400xx00');
$r = app($QRY, 'amount=1');
is_snap_error($r, '4000000', 'Bad Request', 'not JSON, no service: 40000 00');
(my $nopref = $generate) =~ s/"partnerReferenceNo": "TestPartNo0002",//;
$r = app($GEN, $nopref);
is_snap_error($r, '4004702', 'Invalid Mandatory Field partnerReferenceNo',
    'the profile: 400xx02 with the field');
$r = app($GEN, '');
is_snap_error($r, '4004700', 'Bad Request', 'an empty body with a profile');
is(txs(), $before, 'none of these reached the provider');
is($r->{headers}{'x-snap-refused-by-nginx'}, '4004700',
    'README\'s recipe: nginx\'s own refusal says so');
ok(!defined $r->{headers}{'x-snap-out-external-id'},
    'and carries no X-EXTERNAL-ID: nothing was sent');
$r = app($QRY, $query);
is($r->{status}, 200, 'a signed call');
like($r->{headers}{'x-snap-out-external-id'} // '', qr/^\d{36}$/,
    'the app learns the X-EXTERNAL-ID sent');
is($r->{headers}{'x-snap-out-external-id'},
    last_tx()->{headers}{'x-external-id'}, 'the one the provider got');
is($r->{headers}{'x-snap-out-timestamp'},
    last_tx()->{headers}{'x-timestamp'}, 'and its X-TIMESTAMP');
ok(!defined $r->{headers}{'x-snap-refused-by-nginx'},
    'the provider\'s answer is not marked as nginx\'s');

##############################################################################
# the provider unreachable: nginx's 502 as SNAP

$r = app('/dead', $generate);
is_snap_error($r, '5004702', 'External Server Error',
    'provider unreachable: 500xx02');
is($r->{headers}{'x-snap-refused-by-nginx'}, '5004702',
    'README\'s recipe: nginx\'s own 5xx says so');
like($r->{headers}{'x-snap-out-external-id'} // '', qr/^\d{36}$/,
    'with the X-EXTERNAL-ID it was sent with: not safe to retry blindly');

##############################################################################
# 401xx01: the token is dropped and the next request fetches another

$prov->set(revoke => 1);
$r = app($QRY, $query);
is($r->{status}, 401, 'a revoked token: the provider\'s 401 reaches the app');
is($r->{json}{responseCode}, '4015101', 'untouched: 4015101');
is(tokens(), 1, 'no token call yet');
$r = app($QRY, $query);
is($r->{status}, 200, 'the next request is accepted');
is(tokens(), 2, 'with a new token fetched');
like((split /\n/, $a->read_file('out.log'))[-1], qr/^qoinhub fetched /,
    'logged as fetched');

# another 401 (a signature refused) keeps the token
my $tbefore = tokens();
$prov->set(refuse => 1);
$r = app($QRY, $query);
is($r->{json}{responseCode}, '4015100', 'a 401xx00 reaches the app');
$r = app($QRY, $query);
is($r->{status}, 200, 'the next request is accepted');
is(tokens(), $tbefore, 'with the same token: only 401xx01 drops it');

##############################################################################
# token= leading to another location: no token taken from it

$before = txs();
$r = app('/elsewhere', $query);
is_snap_error($r, '5005100', 'General Error',
    'token= not a snap_provider_token location: 500xx00');
is(txs(), $before, 'nothing sent');
like($a->read_file('error.log'),
    qr/did not reach a location with "snap_provider_token elsewhere"/,
    'the error log says why');

# the provider's certificate does not verify: no token call gets through
$tbefore = tokens();
$r = app('/badtls', $query);
is_snap_error($r, '5005102', 'External Server Error',
    'a certificate for another name: 500xx02');
is(tokens(), $tbefore, 'the mock provider never got the token call');
like($a->read_file('error.log'), qr/upstream SSL certificate does not match/,
    'nginx verified the certificate');
is(txs(), $before, 'nothing sent');

##############################################################################
# the token endpoint down: SNAP 5xx, the transaction never sent

$prov->set(token_status => 503);
$prov->set(revoke => 1);
$r = app($QRY, $query);
is($r->{status}, 401, 'revoked again');
$before = txs();
$tbefore = tokens();
$r = app($QRY, $query);
is_snap_error($r, '5000002', 'External Server Error',
    'the token endpoint down: 500xx02');
is(tokens(), $tbefore + 1, 'after one token call');
$r = app($QRY, $query);
is_snap_error($r, '5000002', 'External Server Error',
    'right after: 500xx02 again');
is(tokens(), $tbefore + 1, 'backed off: no second token call');
is(txs(), $before, 'the transactional endpoint saw nothing');
# the next token call, once the back-off is over: the last answer
sub after_backoff {
    my $n = tokens();
    my $r;
    for (1 .. 40) {
        $r = app($QRY, $query);
        last if tokens() > $n;
        sleep 0.5;
    }
    return $r;
}

$prov->set(token_status => undef);
$prov->set(token_bad => 1);
$r = after_backoff();
is_snap_error($r, '5000002', 'External Server Error',
    'a token answer without accessToken: 500xx02');
like($a->read_file('error.log'),
    qr/answered without a valid responseCode, accessToken/, 'logged');
is(txs(), $before, 'still nothing sent');
$prov->set(token_bad => undef);
$r = after_backoff();
is($r->{status}, 200, 'the endpoint back, after the back-off: accepted');

##############################################################################
# the metrics of all the above, per provider

{
    my $m = $a->scrape_when(sub {
        metric($_[0], 'snap_nginx_errors_total', reason => 'upstream') == 1
        && metric($_[0], 'snap_outbound_requests_total', outcome => 'signed')
           == grep { /^qoinhub / } split /\n/, $a->read_file('out.log') });
    my $signed = grep { /^qoinhub / } split /\n/, $a->read_file('out.log');
    my %q = (provider => 'qoinhub');
    is(metric($m, 'snap_outbound_requests_total', %q, outcome => 'signed'),
        $signed, "signed requests: $signed, as the log has them");
    is(metric($m, 'snap_outbound_requests_total', %q, outcome => 'bad_json'),
        3, 'three bodies that were not JSON');
    is(metric($m, 'snap_outbound_requests_total', %q,
        outcome => 'missing_field'), 1, 'one without a mandatory field');
    ok(metric($m, 'snap_outbound_requests_total', %q, outcome => 'upstream')
        >= 2, 'no token from the provider: counted as upstream');
    is(metric($m, 'snap_outbound_token_fetches_total', %q, outcome => 'failed'),
        1, 'one token call failed (503)');
    is(metric($m, 'snap_outbound_token_fetches_total', %q,
        outcome => 'refused'), 1, 'one answered without a token');
    is(metric($m, 'snap_outbound_token_fetches_total', %q),
        tokens(), 'every token call the provider saw is counted');
    is(metric($m, 'snap_outbound_token_fetches_total', provider => 'badtls',
        outcome => 'failed'), 1, 'the certificate that did not verify');
    is(metric($m, 'snap_outbound_requests_total', provider => 'badtls',
        outcome => 'upstream'), 1, 'and its request');
    is(metric($m, 'snap_outbound_token_fetches_total', provider => 'elsewhere',
        outcome => 'internal'), 1, 'token= leading elsewhere: internal');
    is(metric($m, 'snap_outbound_requests_total', provider => 'elsewhere',
        outcome => 'internal'), 1, 'and its request');
    is(metric($m, 'snap_nginx_errors_total', reason => 'upstream'), 1,
        'the unreachable provider: nginx\'s 502, converted');
}

##############################################################################
# X-EXTERNAL-ID: 10 000 requests, all distinct, over both workers

{
    unlink "$d/ids.out";
    my @kids;
    for my $k (1 .. 4) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open my $out, '>', "$d/ids.$k" or POSIX::_exit(1);
            for my $c (1 .. 25) {
                my $s = IO::Socket::INET->new(
                    PeerAddr => '127.0.0.1:' . $a->port(0)) or POSIX::_exit(1);
                binmode $s;
                my $req = "POST /ids HTTP/1.1\r\nHost: a\r\n"
                    . "Content-Length: 2\r\n\r\n{}";
                for my $i (1 .. 100) {
                    print $s $req;
                    my $buf = '';
                    while ($buf !~ /\r\n\r\n/
                        || length($buf) < index($buf, "\r\n\r\n") + 4 + 36)
                    {
                        sysread($s, $buf, 4096, length $buf) or last;
                    }
                    my ($id) = $buf =~ /\r\n\r\n(.*)$/s;
                    print {$out} ($id // ''), "\n";
                }
                close $s;
            }
            close $out;
            POSIX::_exit(0);
        }
        push @kids, $pid;
    }
    waitpid $_, 0 for @kids;
    my @ids = map { split /\n/, $a->read_file("ids.$_") } 1 .. 4;
    my %seen = map { $_ => 1 } @ids;
    is(scalar @ids, 10000, '10 000 signed requests');
    is(scalar(grep { /^\d{36}$/ } @ids), 10000, 'every id 36 digits');
    is(scalar keys %seen, 10000, 'all distinct');
    my %prefix = map { substr($_, 0, 20) => 1 } @ids;
    my %pids = map { (split / /)[4] => 1 }
        (split /\n/, $a->read_file('out.log'))[-10000 .. -1];
    is(scalar keys %prefix, scalar(keys %pids),
        'one random prefix a worker (' . scalar(keys %pids) . ')');
}

##############################################################################
# 200 concurrent first requests, 2 workers (reuseport spreads the
# connections over both): one token call

$a->stop;
$a->run;
$tbefore = tokens();
{
    my @s;
    for (1 .. 200) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1:' . $a->port(0))
            or die "connect: $!";
        binmode $s;
        push @s, $s;
    }
    my $raw = SnapTest::raw_request('POST', $QRY,
        [ 'Content-Type' => 'application/json' ], $query);
    print $_ $raw for @s;
    my $ok = 0;
    for my $s (@s) {
        my $resp = SnapTest::parse_response(SnapTest::_read_all($s, 20));
        $ok++ if $resp->{status} == 200;
    }
    is($ok, 200, '200 concurrent first requests: all accepted');
    is(tokens(), $tbefore + 1, 'after exactly one token call');
}

##############################################################################
# refreshed ahead of expiry while requests flow

$prov->set(expires_in => 8);
$a->stop;
$a->run;
$tbefore = tokens();
{
    my ($sent, $ok) = (0, 0);
    my $start = time;
    while (time - $start < 9) {
        my $r = app($QRY, $query);
        $sent++;
        $ok++ if $r->{status} == 200;
        sleep 0.2;
    }
    is($ok, $sent, "$sent requests over 9 s with 8 s tokens: all accepted");
    my @t = ($prov->requests('token'))[$tbefore .. tokens() - 1];
    is(scalar @t, 2, 'two token calls');
    ok($t[1]{time} < $t[0]{time} + 8,
        'the second before the first token expired');

    # the refresh fails: the current token serves while it is valid
    $prov->set(token_status => 503);
    my $issued = $t[1]{time};
    sleep $issued + 6.5 - time if $issued + 6.5 > time;
    my $n = tokens();
    my $r = app($QRY, $query);
    is($r->{status}, 200, 'a failed refresh: the current token still used');
    is(tokens(), $n + 1, 'after a refresh attempt');
    is(($prov->requests('token'))[-1]{verdict}, 'down', 'which failed');
    sleep $issued + 8.5 - time if $issued + 8.5 > time;
    $r = app($QRY, $query);
    is_snap_error($r, '5000002', 'External Server Error',
        'once it expired: 500xx02');
    $prov->set(token_status => undef);
}
$prov->set(expires_in => undef);

##############################################################################
# tokens as providers really answer them: 3000 characters, expiresIn an
# integer, tokenType in lower case; one longer than a slot is refused

$prov->set(token_length => 3000);
$prov->set(expires_int => 1);
$prov->set(token_type => 'bearer');
# the token above expired, its refresh failed: the next fetch, once the
# back-off is over
$tbefore = tokens();
$r = after_backoff();
is($r->{status}, 200, 'a 3000-character token, expiresIn 900 as a number, '
    . 'tokenType "bearer": accepted end to end');
is(tokens(), $tbefore + 1, 'after one token call');
like(last_tx()->{headers}{authorization}, qr/^Bearer tok[a-z0-9]{2997}$/,
    'the provider got the whole token');
$r = app($QRY, $query);
is($r->{status}, 200, 'and it is kept: the next request uses it');
is(tokens(), $tbefore + 1, 'without another token call');

$prov->set(token_length => 5000);
$prov->set(revoke => 1);
$r = app($QRY, $query);
is($r->{json}{responseCode}, '4015101', 'revoked again');
$before = txs();
$r = app($QRY, $query);
is_snap_error($r, '5000002', 'External Server Error',
    'a 5000-character token: refused, 500xx02');
is(txs(), $before, 'no transaction was sent with a cut token');
like($a->read_file('error.log'),
    qr/snap: the token call of provider "qoinhub" was answered with an accessToken of 5000 bytes, more than the 4096 a token is kept in: refused, not cut/,
    'the error log says why');
$prov->set($_) for qw(token_length expires_int token_type);

##############################################################################
# nothing secret in the logs

{
    my $logs = $a->read_file('error.log') . $a->read_file('out.log')
        . $a->read_file('access.log');
    my @tokens = map { $_->{headers}{authorization} =~ /^Bearer (\S+)/ }
        grep { $_->{headers}{authorization} } $prov->requests('transaction');
    my @sigs = map { $_->{headers}{'x-signature'} } $prov->requests;
    my $leak = grep { length && index($logs, $_) >= 0 } @tokens, @sigs;
    ok(@tokens > 10 && @sigs > 10, 'tokens and signatures to look for');
    is($leak, 0, 'no token or signature in any log');
    ok(index($logs, $m->{secret}) < 0, 'nor the secret');
    my ($keyline) = grep { length > 40 } split /\n/,
        $a->read_file('MERCHANT01.key');
    ok(index($logs, $keyline) < 0, 'nor the private key');
}

##############################################################################
# end to end: nginx A signs, nginx B verifies (snap_token, snap_verify,
# snap_replay), B's upstream receives the verified request

{
    my $b = SnapTest->new;
    my $bd = $b->dir;
    $b->write_file('m.pem', $a->read_file('MERCHANT01.pem'));
    $b->write_file('m.secret', "$m->{secret}\n");
    my $key = $b->token_key('token.key');
    my $bca = $b->test_ca('bank.test');
    $b->start_upstream;
    $b->run(<<"EOF");
    snap_client MERCHANT01 public_key=$bd/m.pem secret_file=$bd/m.secret;
    snap_token_key $key;
    snap_replay_zone ids:1m;
    server {
        listen 127.0.0.1:%%PORT%% ssl;
        ssl_certificate $bca->{crt};
        ssl_certificate_key $bca->{key};
        location = /api/v1.0/access-token/b2b { snap_token; }
        location = $GEN {
            snap_verify qr-mpm-generate;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    my $bport = $b->port(0);
    my $btls = "proxy_ssl_verify on; proxy_ssl_trusted_certificate "
        . "$bca->{ca}; proxy_ssl_name bank.test; proxy_ssl_server_name on;";

    $a->stop;
    $a->run(conf(extra => <<"EOF"));
    snap_provider bank client_id=MERCHANT01 private_key=$d/MERCHANT01.key
                  secret_file=$m->{secret_file} channel_id=95221
                  token=/_snap/bank/token;
    server {
        listen 127.0.0.1:%%PORT_2%%;
        location = /_snap/bank/token {
            internal;
            snap_provider_token bank;
            proxy_pass https://127.0.0.1:$bport/api/v1.0/access-token/b2b;
            $btls
        }
        location = $GEN {
            snap_sign bank qr-mpm-generate;
            proxy_pass https://127.0.0.1:$bport;
            $btls
        }
    }
EOF
    my $r = app($GEN, $generate, port => $a->port(2));
    is($r->{status}, 200, 'A to B: B verified the request A signed')
        or diag($r->{raw} . $b->read_file('error.log'));
    my @up = $b->upstream_requests;
    is(scalar @up, 1, 'B\'s upstream received it');
    is($up[0]{body}, SnapTest::minify($generate), 'the minified body');
    like($up[0]{headers}{'x-external-id'} // '', qr/^\d{36}$/,
        'with A\'s X-EXTERNAL-ID');
    $r = app($GEN, $generate, port => $a->port(2));
    is($r->{status}, 200, 'a second call: a new X-EXTERNAL-ID, accepted');
    $b->stop;
    $b->stop_upstream;
    $b->check_log;
}

$prov->stop;
$front->stop;
$front->check_log;
$a->done;
