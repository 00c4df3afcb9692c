#!/usr/bin/perl

# Access Token B2B (service 73): success, every failure code, key rotation,
# tokens shared between instances, configuration errors.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $old = $t->rsa_key('QoinSnap-old');
my $other = $t->partner('Other');
my $stranger = $t->rsa_key('stranger');
my $key1 = $t->token_key('key1');
my $key2 = $t->token_key('key2');
my $d = $t->dir;

my $http = <<"EOF";
    snap_client QoinSnap public_key=$p->{pem} public_key=$d/QoinSnap-old.pkcs1.pem
                         secret_file=$p->{secret_file};
    snap_client Other public_key=$other->{pem} secret_file=$other->{secret_file};
    snap_token_key $key1;
    snap_token_ttl 900s;

    server {
        listen 127.0.0.1:%%PORT%%;

        location = /token {
            snap_token;
        }

        location = /short {
            snap_token;
            snap_token_ttl 2s;
        }

        location = /notify {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF

# the second instance: rotated keys, key2 signs, key1 still verifies
my $http_b = $http =~ s/snap_token_key \Q$key1\E;/snap_token_key $key2;\n    snap_token_key $key1;/r;

$t->start_upstream;
$t->run($http);

my $body = '{"grantType":"client_credentials","additionalInfo":{}}';

my $r = $t->request(path => '/token', headers => $t->token_headers($p),
    body => $body);
is($r->{status}, 200, 'token: 200');
my $j = $r->{json};
is($j->{responseCode}, '2007300', 'responseCode 2007300');
is($j->{responseMessage}, 'Successful', 'responseMessage');
is($j->{tokenType}, 'Bearer', 'tokenType');
is($j->{expiresIn}, '900', 'expiresIn is the string "900"');
is_deeply($j->{additionalInfo}, {}, 'additionalInfo');
like($r->{body}, qr/^\{"responseCode":"2007300","responseMessage":"Successful","accessToken":"[^"]+","tokenType":"Bearer","expiresIn":"900","additionalInfo":\{\}\}$/,
    'body layout as in the contract');
is($r->{headers}{'x-client-key'}, 'QoinSnap', 'X-CLIENT-KEY response header');
like($r->{headers}{'x-timestamp'}, qr/\+07:00$/, 'X-TIMESTAMP response header');
is($r->{headers}{'content-type'}, 'application/json', 'content type');

my ($h, $c, $s) = split /\./, $j->{accessToken};
sub b64url { my $x = shift; $x =~ tr{-_}{+/}; $x .= '=' x ((4 - length($x) % 4) % 4); decode_base64($x) }
is(b64url($h), '{"alg":"HS256","typ":"JWT"}', 'JWT header');
my $claims = decode_json(b64url($c));
like($claims->{jti}, qr/^[0-9a-f]{32}$/, 'jti: 128 random bits');
is($claims->{clientId}, 'QoinSnap', 'clientId claim');
is($claims->{nbf}, $claims->{iat}, 'nbf = iat');
is($claims->{exp}, $claims->{iat} + 900, 'exp = iat + ttl');
ok(abs($claims->{iat} - time) < 5, 'iat is now');

my $r2 = $t->request(path => '/token', headers => $t->token_headers($p),
    body => $body);
isnt(decode_json(b64url((split /\./, $r2->{json}{accessToken})[1]))->{jti},
    $claims->{jti}, 'each token has its own jti');

# the token validates through the shared function: a signed notification
my $nb = '{"originalReferenceNo":"T1"}';
$r = $t->snap($p, path => '/notify', token => $j->{accessToken}, body => $nb);
is($r->{status}, 200, 'the issued token is accepted by snap_verify');
is($t->upstream_count, 1, 'the upstream got the notification');

# Midtrans's snake_case grant_type
$r = $t->request(path => '/token', headers => $t->token_headers($p),
    body => '{"grant_type":"client_credentials"}');
is($r->{status}, 200, 'grant_type spelling accepted');

# rotation of the partner key: the old PKCS#1 key still verifies
$r = $t->request(path => '/token', headers => $t->token_headers($p, rsa => $old),
    body => $body);
is($r->{status}, 200, 'old partner key (PKCS#1 PEM) still verifies');

# failures
my @cases = (
    [ 'GET', {}, $body, '4057300', 'Requested Function Is Not Supported' ],
    [ 'PUT', {}, $body, '4057300', 'Requested Function Is Not Supported' ],
    [ 'POST', { 'X-TIMESTAMP' => undef }, $body, '4007302',
      'Invalid Mandatory Field X-TIMESTAMP' ],
    [ 'POST', { 'X-CLIENT-KEY' => undef }, $body, '4007302',
      'Invalid Mandatory Field X-CLIENT-KEY' ],
    [ 'POST', { 'X-SIGNATURE' => undef }, $body, '4007302',
      'Invalid Mandatory Field X-SIGNATURE' ],
    [ 'POST', { 'X-TIMESTAMP' => '2022-08-24 11:14:17' }, $body, '4007301',
      'Invalid Field Format X-TIMESTAMP' ],
    [ 'POST', { 'X-TIMESTAMP' => timestamp(-310) }, $body, '4017300',
      'Unauthorized. [Timestamp]' ],
    [ 'POST', { 'X-TIMESTAMP' => timestamp(310) }, $body, '4017300',
      'Unauthorized. [Timestamp]' ],
    [ 'POST', { 'X-CLIENT-KEY' => 'Nobody' }, $body, '4017300',
      'Unauthorized. [Unknown client]' ],
    [ 'POST', { 'X-SIGNATURE' => 'not base64!' }, $body, '4017300',
      'Unauthorized. [Signature]' ],
    [ 'POST', { 'X-SIGNATURE' => 'QUJD' }, $body, '4017300',
      'Unauthorized. [Signature]' ],
    [ 'POST', { rsa => $stranger }, $body, '4017300',
      'Unauthorized. [Signature]' ],
    [ 'POST', { rsa => $other->{rsa} }, $body, '4017300',
      'Unauthorized. [Signature]' ],
    [ 'POST', {}, 'grantType=client_credentials', '4007300', 'Bad Request' ],
    [ 'POST', {}, '', '4007300', 'Bad Request' ],
    [ 'POST', {}, '["client_credentials"]', '4007300', 'Bad Request' ],
    [ 'POST', {}, '{"grantType":"client_credentials"}x', '4007300',
      'Bad Request' ],
    [ 'POST', {}, '{"additionalInfo":{}}', '4007302',
      'Invalid Mandatory Field grantType' ],
    [ 'POST', {}, '{"grantType":"password"}', '4007301',
      'Invalid Field Format grantType' ],
    [ 'POST', {}, '{"grantType":1}', '4007301',
      'Invalid Field Format grantType' ],
);

for my $case (@cases) {
    my ($method, $over, $b, $code, $msg) = @$case;
    my %o = %$over;
    my $rsa = delete $o{rsa};
    my %hdr = @{$t->token_headers($p, $rsa ? (rsa => $rsa) : ())};
    # a changed timestamp or client key is signed consistently
    if (exists $o{'X-TIMESTAMP'} && defined $o{'X-TIMESTAMP'}
        || exists $o{'X-CLIENT-KEY'} && defined $o{'X-CLIENT-KEY'})
    {
        %hdr = @{$t->token_headers($p,
            timestamp => $o{'X-TIMESTAMP'} // $hdr{'X-TIMESTAMP'},
            client_key => $o{'X-CLIENT-KEY'} // $hdr{'X-CLIENT-KEY'})};
        delete @o{'X-TIMESTAMP', 'X-CLIENT-KEY'};
    }
    @hdr{keys %o} = values %o;
    my @hl = map { defined $hdr{$_} ? ($_ => $hdr{$_}) : () } sort keys %hdr;
    my $r = $t->request(method => $method, path => '/token', headers => \@hl,
        body => $b);
    is_snap_error($r, $code, $msg, "token: $code $msg ("
        . join(',', map { "$_=" . ($over->{$_} // 'none') } sort keys %$over)
        . " body=$b)");
}

# a repeated security header is refused, never "first one wins"
$r = $t->request(path => '/token',
    headers => [@{$t->token_headers($p)}, 'X-SIGNATURE' => 'QUJD'],
    body => $body);
is_snap_error($r, '4007301', 'Invalid Field Format X-SIGNATURE',
    'duplicate X-SIGNATURE refused');

# expiry: a 2-second token is refused once expired
my $short = $t->get_token($p, path => '/short');
$r = $t->snap($p, path => '/notify', token => $short, body => $nb);
is($r->{status}, 200, 'short token valid at first');
sleep 3;
$r = $t->snap($p, path => '/notify', token => $short, body => $nb);
is_snap_error($r, '4015201', 'Invalid Token (B2B)', 'expired token refused');

# a second instance with rotated token keys (key2 signs, key1 verifies)
my $tb = SnapTest->new;
$tb->{upstream_port} = $t->upstream_port;
$tb->run($http_b);
isnt($tb->port, $t->port, 'instance B listens on its own port');

my $tok_a = $t->get_token($p);
$r = $tb->snap($p, path => '/notify', token => $tok_a, body => $nb);
is($r->{status}, 200, 'a token from instance A is accepted by instance B');

my $tok_b = $tb->get_token($p);
$r = $tb->snap($p, path => '/notify', token => $tok_b, body => $nb);
is($r->{status}, 200, 'B accepts its own token (new key)');
$r = $t->snap($p, path => '/notify', token => $tok_b, body => $nb);
is_snap_error($r, '4015201', 'Invalid Token (B2B)',
    'A, without the new key, refuses it');

# a token for another partner
my $tok_other = $t->get_token($other);
$r = $t->snap($p, path => '/notify', token => $tok_other, body => $nb);
is_snap_error($r, '4015201', 'Invalid Token (B2B)',
    "another partner's token refused");

# nothing secret in the logs
my $log = $t->read_file('error.log') . $t->read_file('access.log');
my $secret = $p->{secret};
unlike($log, qr/\Q$secret\E/, 'no secret in the logs');
unlike($log, qr/\Q$j->{accessToken}\E/, 'no token in the logs');
unlike($log, qr/\Q$s\E/, 'no token signature in the logs');
like($t->read_file('error.log'), qr/access token issued to client "QoinSnap"/,
    'issuance is logged without the token');
$tb->stop;
$tb->check_log;

# configuration errors
$t->rsa_key('small', 512);
$t->write_file('garbage.pem', "not a key\n");
$t->write_file('short.key', 'x' x 31);
$t->write_file('cert.key', '');
system("openssl req -x509 -new -key $d/QoinSnap.key -subj /CN=QoinSnap "
    . "-days 2 -out $d/QoinSnap.crt 2>/dev/null") == 0 or die "openssl req";

my $good = "snap_client A public_key=$p->{pem}; snap_token_key $key1;";
for my $case (
    [ "snap_client A public_key=$d/none.pem; snap_token_key $key1;",
      qr/open\(\) ".*none\.pem" failed.* in \S+nginx\.conf:\d+/, 'missing file' ],
    [ "snap_client A public_key=$d/garbage.pem; snap_token_key $key1;",
      qr/holds no PEM public key.* in \S+nginx\.conf:\d+/, 'bad PEM' ],
    [ "snap_client A public_key=$d/QoinSnap.key; snap_token_key $key1;",
      qr/holds a private key.* in \S+nginx\.conf:\d+/, 'private key' ],
    [ "snap_client A public_key=$d/small.pem; snap_token_key $key1;",
      qr/has 512 bits, at least 1024 are required in \S+nginx\.conf:\d+/,
      '512-bit key' ],
    [ "snap_client A public_key=$p->{pem}; snap_token_key $d/short.key;",
      qr/holds 31 bytes, at least 32 are required in \S+nginx\.conf:\d+/,
      'short token key' ],
    [ "$good snap_client A public_key=$p->{pem};",
      qr/duplicate snap_client "A" in \S+nginx\.conf:\d+/, 'duplicate client' ],
    [ "$good snap_client B public_key=$p->{pem} partner_id=A;",
      qr/partner_id "A" is used by two snap_client directives/,
      'duplicate partner id' ],
    [ "$good snap_client a public_key=$p->{pem} partner_id=B;",
      qr/snap_client "a" and "A" differ only in case.* in \S+nginx\.conf:\d+/,
      'client ids differing only in case' ],
    [ "$good snap_client B public_key=$p->{pem} partner_id=a;",
      qr/partner_id "a" is used by two snap_client directives/,
      'partner ids differing only in case' ],
    [ "snap_client A public_key=$p->{pem} colour=red; snap_token_key $key1;",
      qr/invalid parameter "colour=red"/, 'unknown parameter' ],
    [ "snap_client A; snap_token_key $key1;",
      qr/invalid number of arguments in "snap_client"/, 'no key at all' ],
    [ "snap_client A public_key=$p->{pem};",
      qr/need "snap_token_key"/, 'snap_token without snap_token_key' ],
) {
    $t->config_fails(<<"EOF", $case->[1], $case->[2]);
    $case->[0]
    server { listen 127.0.0.1:%%PORT%%; location / { snap_token; } }
EOF
}

for my $case ([ $p->{pem}, 'SPKI' ], [ "$d/QoinSnap.pkcs1.pem", 'PKCS#1' ],
    [ "$d/QoinSnap.crt", 'X.509 certificate' ])
{
    my ($ok, $out) = $t->test_config(<<"EOF");
    snap_client A public_key=$case->[0]; snap_token_key $key1;
    server { listen 127.0.0.1:%%PORT%%; location / { snap_token; } }
EOF
    ok($ok, "$case->[1] public key accepted") or diag($out);
}

# Client ids of 1 to 64 characters (README's limit), end to end: nginx -t,
# the token call, and a signed notification with a partner id as long.
# nginx's hash of ids is sized for the longest: 47 to 64 characters once
# made nginx -t ask for a directive that does not exist.
{
    my $l = SnapTest->new;
    my @ids = map { my $n = $_; join '', map { ('A' .. 'Z', 0 .. 9)[($_ * 7 + $n) % 36] } 1 .. $n } 1, 46, 47, 64;
    my @parts = map { $l->partner($_) } @ids;
    my $lkey = $l->token_key('token.key');
    my $clients = join "\n", map {
        "    snap_client $_->{id} public_key=$_->{pem} secret_file=$_->{secret_file};"
    } @parts;
    $l->start_upstream;
    $l->run(<<"EOF");
$clients
    snap_token_key $lkey;
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        location = /notify {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF
    for my $lp (@parts) {
        my $n = length $lp->{id};
        my $tok = eval { $l->get_token($lp) };
        ok($tok, "a client id of $n characters: a token");
        my $r = $l->snap($lp, path => '/notify', token => $tok // '',
            body => '{"originalReferenceNo":"T1"}');
        is($r->{status}, 200, "and its X-PARTNER-ID of $n characters verified");
        my ($up) = grep { ($_->{headers}{'x-partner-id'} // '') eq $lp->{id} }
            $l->upstream_requests;
        ok($up, "the upstream got it");
    }
    $l->stop;
    $l->stop_upstream;
    $l->check_log;
}

$t->done;
