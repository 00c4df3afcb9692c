#!/usr/bin/perl

# Per-partner variants of SNAP (snap_client ... compat=) and per-partner
# source addresses (allow=): each variant's request is refused for a strict
# partner with the code it always got, accepted for the partner that has
# the variant, and a tampered one is still refused.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex hmac_sha512);
use Encode qw(decode);
use MIME::Base64 qw(encode_base64);
use SnapTest;

my $t = SnapTest->new;
my $s = $t->partner('Strict', partner_id => 'STRICT');
my $c = $t->partner('Compat', partner_id => 'COMPAT');
my $n = $t->partner('Net', partner_id => 'NET');
my $six = $t->partner('Six', partner_id => 'SIX');
my $key = $t->token_key('token.key');

my $all = 'long_ids,empty_hash_field,sorted_query,path_without_query,'
    . 'rsa_empty_token,php_json,ascii_json,hex_signature,raw_body,'
    . 'no_hash_field,timestamp_basic_offset,timestamp_wib';

$t->start_upstream;
$t->run(<<"EOF");
    snap_client Strict public_key=$s->{pem} secret_file=$s->{secret_file}
                partner_id=STRICT;
    snap_client Compat public_key=$c->{pem} secret_file=$c->{secret_file}
                partner_id=COMPAT compat=$all;
    snap_client Net public_key=$n->{pem} secret_file=$n->{secret_file}
                partner_id=NET allow=10.0.0.0/8,192.0.2.7;
    snap_client Six public_key=$six->{pem} secret_file=$six->{secret_file}
                partner_id=SIX allow=2001:db8::/32;
    snap_token_key $key;
    snap_replay_zone ids:1m;

    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%PORT_1%% http2;
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        location = /token { snap_token; }
        location = /n {
            snap_verify qr-mpm-notify;
            snap_replay ids;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /r {
            snap_verify 56 signature=rsa;
            snap_replay off;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /q {
            snap_verify 11;
            snap_replay off;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF

my %tok = map { $_->{id} => $t->get_token($_) } $s, $c;
my $body = '{"originalReferenceNo":"T1","originalPartnerReferenceNo":"P1",'
    . '"latestTransactionStatus":"00","transactionStatusDesc":"Success",'
    . '"amount":{"value":"20.00","currency":"IDR"}}';

# a request signed over the given string to sign (HMAC, or RSA without a
# token); hex for hex_signature
sub send_signed {
    my ($p, %a) = @_;
    my $ts = $a{timestamp} // timestamp();
    my $sts = $a{sts}->($ts);
    my $raw = defined $a{rsa}
        ? do { $p->{rsa}->use_sha256_hash; $p->{rsa}->sign($sts) }
        : hmac_sha512($sts, $p->{secret});
    my $sig = $a{hex} ? unpack('H*', $raw) : encode_base64($raw, '');
    my @h = ('Content-Type' => 'application/json', 'X-TIMESTAMP' => $ts,
        'X-SIGNATURE' => $sig, 'X-PARTNER-ID' => $p->{partner_id},
        'X-EXTERNAL-ID' => $a{external_id} // external_id(),
        'CHANNEL-ID' => '95221', @{$a{extra} || []});
    push @h, Authorization => "Bearer $tok{$p->{id}}" unless defined $a{rsa};
    return $t->h2(method => $a{method} // 'POST', path => $a{path},
        headers => \@h, body => $a{sent_body} // $a{body} // '')
        if $a{h2};
    return $t->request(method => $a{method} // 'POST', path => $a{path},
        headers => \@h, body => $a{sent_body} // $a{body} // '');
}

sub sts_of {
    my (%a) = @_;
    my $hash = exists $a{hash} ? $a{hash} : sha256_hex(minify($a{body} // ''));
    return sub {
        my ($ts) = @_;
        join ':', $a{method} // 'POST', $a{path},
            (defined $a{token} ? ($a{token}) : ()),
            (defined $hash ? ($hash) : ()), $ts;
    };
}

# each variant for the strict partner (refused as always) and for the
# compat partner (accepted), then tampered (refused)
sub variant {
    my ($name, $code, $msg, $make, %o) = @_;
    my $before = $t->upstream_count;
    my $r = $make->($s, 0);
    is_snap_error($r, $code, $msg, "$name: a strict partner is refused");
    $r = $make->($c, 0);
    is($r->{status}, 200, "$name: accepted with compat=$name")
        or diag($r->{raw});
    $r = $make->($c, 1);
    is($r->{status}, $o{tampered} // 401,
        "$name: tampered, still refused with the option")
        or diag($r->{raw});
    is($t->upstream_count, $before + 1, "$name: the upstream saw one");
    return unless $o{h2};
    # over HTTP/2: the same answers (a refusal made before the body is
    # read is not sent with one: see SnapTest::h2)
    if ($o{h2} ne 'accepted') {
        $r = $make->($s, 0, 1);
        is("$r->{version} " . ($r->{json}{responseCode} // $r->{status}),
            "2 $code", "$name: HTTP/2: a strict partner is refused");
    }
    $r = $make->($c, 0, 1);
    is("$r->{version} $r->{status}", '2 200',
        "$name: HTTP/2: accepted with compat=$name");
}

# long_ids: a 50-character X-EXTERNAL-ID, as DOKU's Node SDK sends
variant('long_ids', '4005201', 'Invalid Field Format X-EXTERNAL-ID', sub {
    my ($p, $tamper) = @_;
    return send_signed($p, path => '/n', body => $body,
        external_id => 'a' x 36 . '-' . time . '000' . int(rand 10),
        sts => sts_of(path => '/n', token => $tok{$p->{id}}, body => $body,
            ($tamper ? (hash => 'x' x 64) : ())));
});

# empty_hash_field: GET with no body, an empty hash field
variant('empty_hash_field', '4011100', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper) = @_;
    return send_signed($p, method => 'GET', path => '/q',
        sts => sts_of(method => 'GET', path => $tamper ? '/x' : '/q',
            token => $tok{$p->{id}}, hash => ''));
});

# sorted_query: the query sorted and RFC 3986-encoded in the signature
variant('sorted_query', '4011100', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper) = @_;
    my $sent = '/q?to=x%2fy&from=2024-01-01&b=&a=1+2&a=0';
    my $signed = '/q?a=0&a=1%202&b=&from=2024-01-01&to=x%2Fy';
    $signed =~ s/from=2024/from=2025/ if $tamper;
    return send_signed($p, method => 'GET', path => $sent,
        sts => sts_of(method => 'GET', path => $signed,
            token => $tok{$p->{id}}, body => ''));
});

# path_without_query: the path signed without its query
variant('path_without_query', '4011100', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper) = @_;
    return send_signed($p, method => 'GET', path => '/q?account=123',
        sts => sts_of(method => 'GET', path => $tamper ? '/q2' : '/q',
            token => $tok{$p->{id}}, body => ''));
});

# rsa_empty_token: type 2 signed as METHOD:path::hash:ts
variant('rsa_empty_token', '4015600', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper) = @_;
    return send_signed($p, path => '/r', body => $body, rsa => 1,
        sts => sts_of(path => '/r', token => '', body => $body,
            ($tamper ? (hash => 'y' x 64) : ())));
});

# php_json and ascii_json: the sender hashed its serialiser's escapes
my $utf8 = '{"originalReferenceNo":"T/1","originalPartnerReferenceNo":"P1",'
    . '"latestTransactionStatus":"00","transactionStatusDesc":'
    . "\"Caf\xc3\xa9 \xf0\x9f\x98\x80 \\\\/ok\","
    . '"amount":{"value":"20.00","currency":"IDR"}}';

sub escaped {
    my ($json, $slash) = @_;
    my $str = decode('UTF-8', minify($json));
    $str =~ s{(\\.)|(/)|([^\x00-\x7f])}{
        defined $1 ? $1
        : defined $2 ? ($slash ? '\\/' : '/')
        : do {
            my $cp = ord $3;
            $cp < 0x10000 ? sprintf('\\u%04x', $cp)
                : do { $cp -= 0x10000;
                    sprintf('\\u%04x\\u%04x', 0xd800 + ($cp >> 10),
                        0xdc00 + ($cp & 0x3ff)) }
        }
    }ge;
    return $str;
}

for my $v ([ 'php_json', 1 ], [ 'ascii_json', 0 ]) {
    my ($name, $slash) = @$v;
    variant($name, '4015200', 'Unauthorized. [Signature]', sub {
        my ($p, $tamper) = @_;
        my $hash = sha256_hex(escaped($utf8, $slash));
        return send_signed($p, path => '/n', body => $utf8,
            sent_body => $tamper ? $utf8 =~ s/T\/1/T\/2/r : $utf8,
            sts => sts_of(path => '/n', token => $tok{$p->{id}},
                hash => $hash));
    });
}

# hex_signature: X-SIGNATURE in lower-case hex
variant('hex_signature', '4015200', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper) = @_;
    return send_signed($p, path => '/n', body => $body, hex => 1,
        sent_body => $tamper ? $body =~ s/T1/T9/r : $body,
        sts => sts_of(path => '/n', token => $tok{$p->{id}}, body => $body));
});

# raw_body: a payment gateway's Python SDK hashes json.dumps' output as
# sent, ", " and ": " included
my $pybody = '{"originalReferenceNo": "T1", "originalPartnerReferenceNo": '
    . '"P1", "latestTransactionStatus": "00", "transactionStatusDesc": '
    . '"Success", "amount": {"value": "20.00", "currency": "IDR"}}';
variant('raw_body', '4015200', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper, $h2) = @_;
    return send_signed($p, path => '/n', body => $pybody, h2 => $h2,
        sent_body => $tamper ? $pybody =~ s/T1/T9/r : $pybody,
        sts => sts_of(path => '/n', token => $tok{$p->{id}},
            hash => sha256_hex($pybody)));
}, h2 => 1);

# no_hash_field: a Go signer leaves the hash field and its colon out of a
# request without a body, GET:path:token:ts (type 1)...
variant('no_hash_field', '4011100', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper, $h2) = @_;
    return send_signed($p, method => 'GET', path => '/q', h2 => $h2,
        sts => sts_of(method => 'GET', path => $tamper ? '/x' : '/q',
            token => $tok{$p->{id}}, hash => undef));
}, h2 => 1);

# ... and GET:path:ts (type 2)
variant('no_hash_field (RSA)', '4015600', 'Unauthorized. [Signature]', sub {
    my ($p, $tamper) = @_;
    return send_signed($p, method => 'GET', path => '/r', rsa => 1,
        sts => sts_of(method => 'GET', path => $tamper ? '/x' : '/r',
            hash => undef));
});

# timestamp_basic_offset: Java's SimpleDateFormat "Z" writes +0700
variant('timestamp_basic_offset', '4005201',
    'Invalid Field Format X-TIMESTAMP', sub {
    my ($p, $tamper, $h2) = @_;
    my $ts = timestamp() =~ s/\+07:00$/+0700/r;
    return send_signed($p, path => '/n', body => $body, h2 => $h2,
        timestamp => $ts,
        sts => sub { sts_of(path => '/n', token => $tok{$p->{id}},
            body => $body)->($tamper ? timestamp() : $_[0]) });
}, h2 => 'accepted');

# timestamp_wib: WIB local time without an offset
variant('timestamp_wib', '4005201', 'Invalid Field Format X-TIMESTAMP', sub {
    my ($p, $tamper, $h2) = @_;
    my $ts = timestamp() =~ s/\+07:00$//r;
    return send_signed($p, path => '/n', body => $body, h2 => $h2,
        timestamp => $ts,
        sts => sub { sts_of(path => '/n', token => $tok{$p->{id}},
            body => $body)->($tamper ? timestamp() : $_[0]) });
}, h2 => 'accepted');

# a time without an offset is read as WIB: the same moment written as UTC
# without "Z" is 7 hours off, a timestamp refusal, not a format one
{
    my $utc = timestamp(0, 'Z') =~ s/\.\d+Z$//r;
    my $r = send_signed($c, path => '/n', body => $body, timestamp => $utc,
        sts => sts_of(path => '/n', token => $tok{Compat}, body => $body));
    is_snap_error($r, '4015200', 'Unauthorized. [Timestamp]',
        'timestamp_wib: UTC written without Z is 7 hours off');
}

# the timestamp variants apply to the partner's token call too
for my $v ([ 'timestamp_basic_offset', '+0700' ], [ 'timestamp_wib', '' ]) {
    my ($name, $off) = @$v;
    my %r;
    for my $p ($s, $c) {
        my $ts = timestamp() =~ s/\+07:00$/$off/r;
        $r{$p->{id}} = $t->request(path => '/token',
            headers => $t->token_headers($p, timestamp => $ts),
            body => '{"grantType":"client_credentials"}');
    }
    is_snap_error($r{Strict}, '4007301', 'Invalid Field Format X-TIMESTAMP',
        "$name: a strict partner's token call is refused");
    ok($r{Compat}{json} && $r{Compat}{json}{accessToken},
        "$name: the partner's token call gets a token");
}

# a partner with every variant on still verifies a strict request, and
# none of its forms goes past the room the verification keeps for them
# (make test-asan runs this under AddressSanitizer)
my $r = $t->snap($c, path => '/n', token => $tok{Compat}, body => $body);
is($r->{status}, 200, 'every variant on: a strict request verifies');
$r = $t->snap($c, method => 'GET', path => '/q?b=2&a=1', token => $tok{Compat});
is($r->{status}, 200, 'every variant on: a strict GET with a query verifies');
$r = $t->snap($c, method => 'GET', path => '/q?b=2&a=1', token => $tok{Compat},
    secret => 'wrong');
is_snap_error($r, '4011100', 'Unauthorized. [Signature]',
    'every variant on: a forged one is refused after trying every form');

# every variant still binds the timestamp
$r = send_signed($c, path => '/n', body => $body, hex => 1,
    timestamp => timestamp(),
    sts => sub { sts_of(path => '/n', token => $tok{Compat}, body => $body)
        ->(timestamp(-5)) });
is_snap_error($r, '4015200', 'Unauthorized. [Signature]',
    'compat: a signature over another timestamp is refused');
$r = send_signed($c, path => '/n', body => $body, hex => 1,
    sts => sts_of(path => '/n', token => $tok{Strict}, body => $body));
is_snap_error($r, '4015200', 'Unauthorized. [Signature]',
    'compat: a signature over another token is refused');
like($t->read_file('error.log'),
    qr/signature mismatch for client "Compat".* \(also tried compat=long_ids,/,
    'the mismatch line names the variants it tried');

# allow=: the partner's published addresses, after the realip module
my $before = $t->upstream_count;
$r = $t->request(path => '/token', headers => $t->token_headers($n),
    body => '{"grantType":"client_credentials"}');
is_snap_error($r, '4017300', 'Unauthorized. [Connection not allowed]',
    'allow=: the token call from an unlisted address is refused');
$r = $t->request(path => '/token',
    headers => [ @{$t->token_headers($n)}, 'X-Real-IP' => '10.1.2.3' ],
    body => '{"grantType":"client_credentials"}');
is($r->{status}, 200, 'allow=: from a listed address (realip) it passes');
$tok{Net} = $r->{json}{accessToken};

$r = $t->snap($n, path => '/n', token => $tok{Net}, body => $body);
is_snap_error($r, '4015200', 'Unauthorized. [Connection not allowed]',
    'allow=: a transaction from 127.0.0.1 is refused');
$r = $t->snap($n, path => '/n', token => $tok{Net}, body => $body,
    extra => [ 'X-Real-IP' => '192.0.2.7' ]);
is($r->{status}, 200, 'allow=: a transaction from a listed host passes');
$r = $t->snap($n, path => '/n', token => $tok{Net}, body => $body,
    extra => [ 'X-Real-IP' => '192.0.2.8' ]);
is_snap_error($r, '4015200', 'Unauthorized. [Connection not allowed]',
    'allow=: the host next to it is refused');

$r = $t->request(path => '/token',
    headers => [ @{$t->token_headers($six)}, 'X-Real-IP' => '2001:db8::5' ],
    body => '{"grantType":"client_credentials"}');
is($r->{status}, 200, 'allow=: an IPv6 network');
$tok{Six} = $r->{json}{accessToken};
$r = $t->snap($six, path => '/n', token => $tok{Six}, body => $body,
    extra => [ 'X-Real-IP' => '2001:db9::5' ]);
is_snap_error($r, '4015200', 'Unauthorized. [Connection not allowed]',
    'allow=: an IPv6 address outside it is refused');
is($t->upstream_count, $before + 1, 'the upstream saw only the allowed one');

$r = $t->snap($s, path => '/n', token => $tok{Strict}, body => $body);
is($r->{status}, 200, 'a partner without allow= passes from anywhere');

# configuration
for my $case (
    [ 'compat=long_ids,nosuch', qr/unknown compat variant "nosuch" for client "A", expected long_ids, .* raw_body, no_hash_field, timestamp_basic_offset or timestamp_wib/ ],
    [ 'allow=10.0.0.0/33', qr/invalid address "10\.0\.0\.0\/33"/ ],
) {
    my $u = SnapTest->new;
    $u->config_fails(<<"EOF", $case->[1], $case->[0]);
    snap_client A public_key=$s->{pem} $case->[0];
    snap_token_key $key;
    server { listen 127.0.0.1:%%PORT%%; location / { snap_token; } }
EOF
}

$t->done;
