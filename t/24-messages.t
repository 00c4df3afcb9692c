#!/usr/bin/perl

# The operator's mistakes nginx -t used to pass silently, or answer
# without saying how to fix: each now gets a message that does, with the
# file and line where the directive has one.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64);
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');
my $d = $t->dir;

our $client = "snap_client QoinSnap public_key=$p->{pem} "
    . "secret_file=$p->{secret_file};\n    snap_token_key $key;";

sub conf {
    my ($http, $server) = @_;
    return <<"EOF";
    $client
    $http
    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }
        $server
    }
EOF
}

# the line of the configuration a message points at
sub line_of {
    my ($out) = @_;
    my ($line) = $out =~ /nginx\.conf:(\d+)/ or return '';
    return (split /\n/, $t->read_file('nginx.conf'))[$line - 1] // '';
}

# snap_replay_redis naming a zone no snap_replay_zone declares
$t->config_fails(conf("snap_replay_zone ids:1m;\n"
    . "    snap_replay_redis other 127.0.0.1:6379;", ''),
    qr/"snap_replay_redis" names the zone "other", which no "snap_replay_zone" declares, in \S+nginx\.conf:\d+: declare it with "snap_replay_zone other:SIZE"/,
    'snap_replay_redis naming an undeclared zone');

# the provider's token location without "internal": the location's line
my $prov = "snap_provider qoinhub client_id=QoinSnap "
    . "private_key=$d/QoinSnap.key secret_file=$p->{secret_file} "
    . "token=/_snap/qoinhub/token;\n    snap_provider_zone tok:1m;";
my ($ok, $out) = $t->test_config(conf($prov,
    "location = /_snap/qoinhub/token {\n"
    . "            snap_provider_token qoinhub;\n"
    . "            proxy_pass http://127.0.0.1:1;\n        }\n"
    . "        location = /out { snap_sign qoinhub; "
    . "proxy_pass http://127.0.0.1:1; }"));
ok(!$ok, 'a token location without internal: nginx -t fails');
like($out, qr/the location "\/_snap\/qoinhub\/token" with "snap_provider_token" must be "internal" in \S+nginx\.conf:\d+: add "internal;" to it/,
    'and says which location, and what to add');
like(line_of($out), qr/snap_provider_token qoinhub/,
    'the line is the snap_provider_token\'s, not the file\'s last');

# a typo in token=
(my $typo = $prov) =~ s{token=/_snap/qoinhub/token}{token=/_snap/qoinhub/tokn};
$t->config_fails(conf($typo,
    "location = /_snap/qoinhub/token { internal; "
    . "snap_provider_token qoinhub; proxy_pass http://127.0.0.1:1; }\n"
    . "        location = /out { snap_sign qoinhub; "
    . "proxy_pass http://127.0.0.1:1; }"),
    qr{token=/_snap/qoinhub/tokn of snap_provider "qoinhub" does not lead to the location "/_snap/qoinhub/token" that has "snap_provider_token qoinhub" in \S+nginx\.conf:\d+: make them the same path},
    'a typo in snap_provider ... token=');
($ok, $out) = $t->test_config(conf($prov,
    "location /_snap/ { internal; "
    . "snap_provider_token qoinhub; proxy_pass http://127.0.0.1:1; }\n"
    . "        location = /out { snap_sign qoinhub; "
    . "proxy_pass http://127.0.0.1:1; }"));
ok($ok, 'token= under a prefix token location passes') or diag($out);

# proxy_set_header of Authorization or X-SIGNATURE in a signing location
for my $h ('Authorization "Bearer app"', 'X-Signature x') {
    my ($name) = $h =~ /^(\S+)/;
    $t->config_fails(conf($prov,
        "location = /_snap/qoinhub/token { internal; "
        . "snap_provider_token qoinhub; proxy_pass http://127.0.0.1:1; }\n"
        . "        location = /out {\n"
        . "            snap_sign qoinhub;\n"
        . "            proxy_set_header $h;\n"
        . "            proxy_pass http://127.0.0.1:1;\n        }"),
        qr{"proxy_set_header \Q$name\E" in the location "/out" with "snap_sign" \(\S+nginx\.conf:\d+\) would replace the (token|signature) nginx sends the provider: remove it},
        "proxy_set_header $name in a snap_sign location");
}
($ok, $out) = $t->test_config(conf($prov,
    "location = /_snap/qoinhub/token { internal; "
    . "snap_provider_token qoinhub; proxy_pass http://127.0.0.1:1; }\n"
    . "        location = /out { snap_sign qoinhub; "
    . "proxy_set_header X-Request-Id \$request_id; "
    . "proxy_pass http://127.0.0.1:1; }"));
ok($ok, 'another proxy_set_header there passes') or diag($out);

# snap_clock_skew 0, snap_token_ttl 2d
$t->config_fails(conf('snap_clock_skew 0;', ''),
    qr/"snap_clock_skew" directive must be at least 1s: 0 refuses every request whose clock is not this node's to the second .* in \S+nginx\.conf:\d+/,
    'snap_clock_skew 0');
($ok, $out) = $t->test_config(conf('snap_clock_skew 2h;', ''));
ok($ok, 'snap_clock_skew 2h passes');
like($out, qr/\[warn\] "snap_clock_skew" of 7200 s accepts a request that old, or that far ahead.* in \S+nginx\.conf:\d+/,
    'with a warning');
$t->config_fails(conf('snap_token_ttl 2d;', ''),
    qr/"snap_token_ttl" directive must be from 1s to 1d \(SNAP's tokens live 900s\) in \S+nginx\.conf:\d+/,
    'snap_token_ttl 2d');
($ok, $out) = $t->test_config(conf('snap_token_ttl 4h;', ''));
ok($ok && $out =~ /\[warn\] "snap_token_ttl" of 14400 s lets a leaked token be used that long/,
    'snap_token_ttl 4h: passes with a warning') or diag($out);

# snap_log_level debug
$t->config_fails(conf('snap_log_level debug;', ''),
    qr/invalid value "debug" in "snap_log_level", expected info, notice, warn or error \(the module's debug lines are in nginx's debug log: error_log \.\.\. debug\) in \S+nginx\.conf:\d+/,
    'snap_log_level debug');

# a secret others may read: a warning naming the file and its mode
$t->write_file('open.secret', "secret-of-QoinSnap-0123456789\n");
chmod 0644, "$d/open.secret";
$t->write_file('world.key', ('w' x 40) . "\n");
chmod 0666, "$d/world.key";
{
    local $client = "snap_client QoinSnap public_key=$p->{pem} "
        . "secret_file=$d/open.secret;\n    snap_token_key $d/world.key;";
    ($ok, $out) = $t->test_config(conf('', ''));
}
ok($ok, 'secrets readable by others: nginx -t passes');
like($out, qr/\[warn\] "\Q$d\E\/open\.secret" holds a secret and others may read it \(mode 0644\): chmod 600 it, owned by root in \S+nginx\.conf:\d+/,
    'a 0644 secret_file: warned, with its mode');
like($out, qr/\[warn\] "\Q$d\E\/world\.key" holds a secret and others may read it \(mode 0666\)/,
    'a 0666 snap_token_key: warned');
($ok, $out) = $t->test_config(conf('', ''));
unlike($out, qr/others may read it/, 'a 0600 secret: no warning');

# a bare base64 PKCS#1 key wrapped as "BEGIN PUBLIC KEY"
my $der = `openssl rsa -in $d/QoinSnap.key -RSAPublicKey_out -outform DER 2>/dev/null`;
ok(length $der > 200, 'the partner\'s key as bare PKCS#1');
my $b64 = encode_base64($der, '');
like($b64, qr/^MIIBCg/, 'which begins MIIBCg');
$t->write_file('wrapped.pem', "-----BEGIN PUBLIC KEY-----\n"
    . join("\n", $b64 =~ /(.{1,64})/g) . "\n-----END PUBLIC KEY-----\n");
{
    local $client = "snap_client QoinSnap public_key=$d/wrapped.pem "
        . "secret_file=$p->{secret_file};\n    snap_token_key $key;";
    ($ok, $out) = $t->test_config(conf('', ''));
    ok($ok, 'a PKCS#1 body under "BEGIN PUBLIC KEY" is read') or diag($out);
    $t->run(conf('', ''));
    my $tok = $t->request(path => '/token', headers => $t->token_headers($p),
        body => '{"grantType":"client_credentials"}');
    ok($tok->{json}{accessToken}, 'and verifies the partner\'s token call');
    $t->stop;
}
$t->write_file('junk.pem', "-----BEGIN PUBLIC KEY-----\nMIIBjunk\n"
    . "-----END PUBLIC KEY-----\n");
{
    local $client = "snap_client QoinSnap public_key=$d/junk.pem "
        . "secret_file=$p->{secret_file};\n    snap_token_key $key;";
    $t->config_fails(conf('', ''),
        qr/holds no PEM public key .* a bare base64 key is wrapped as "BEGIN PUBLIC KEY" when it starts with MIIBIj \(SPKI\) and as "BEGIN RSA PUBLIC KEY" when it starts with MIIBCg \(PKCS#1\)/,
        'a key that is neither: both recipes');
}

$t->done;
