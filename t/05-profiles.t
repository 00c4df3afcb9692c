#!/usr/bin/perl

# Body profiles (the seeds' mandatory fields and formats) and snap_require.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use SnapTest;

my $t = SnapTest->new;
my $p = $t->partner('QoinSnap');
my $key = $t->token_key('token.key');

$t->start_upstream;
$t->run(<<"EOF");
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;

    server {
        listen 127.0.0.1:%%PORT%%;
        location = /token { snap_token; }

        location = /api/v1.0/qr/qr-mpm-notify {
            snap_verify qr-mpm-notify;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /api/v1.0/debit/notify {
            snap_verify debit-notify;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /ordersnap/api/v1.0/qr/qr-mpm-generate {
            snap_verify qr-mpm-generate;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /ordersnap/api/v1.0/qr/qr-mpm-query {
            snap_verify qr/qr-mpm-query;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /v1.0/qr/qr-mpm-expire-billnumber {
            snap_verify qr-mpm-expire-billnumber;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /required {
            snap_verify 52;
            snap_require additionalInfo.rrn;
            snap_require items[].id;
            proxy_pass http://%%UPSTREAM%%;
        }
        location = /code-only {
            snap_verify 52;
            proxy_pass http://%%UPSTREAM%%;
        }
    }
EOF

my $token = $t->get_token($p);

# the seeds' sample bodies, verbatim
my %seed = (
    '52' => [ '/api/v1.0/qr/qr-mpm-notify', <<'JSON' ],
{
"additionalInfo": {
"rrn": "305080000010"
},
"amount": {
"currency": "IDR",
"value": "20.00"
},
"externalStoreId": "",
"latestTransactionStatus": "00",
"originalPartnerReferenceNo": "18000245195080000010",
"originalReferenceNo": "T25050000799117",
"transactionStatusDesc": "Success"
}
JSON
    '56' => [ '/api/v1.0/debit/notify', <<'JSON' ],
{
"additionalInfo": {},
"createdTime": "2024-08-23T07:44:11+07:00",
"latestTransactionStatus": "00",
"originalPartnerReferenceNo": "abcdefgh0017",
"originalReferenceNo": "T24080000027",
"transactionStatusDesc": "Success"
}
JSON
    '47' => [ '/ordersnap/api/v1.0/qr/qr-mpm-generate', <<'JSON' ],
{
"partnerReferenceNo": "TestPartNo0002",
"amount": {
"value": "10000.00",
"currency": "IDR"
},
"merchantId": "",
"storeId": "",
"validityPeriod": "2025-12-04T11:00:00+07:00",
"additionalInfo": {
"acquirer": 3,
"items": [
{
"id": "idasd1239aks001",
"name": "Qris",
"quantity": "1",
"price": {
"value": 10,
"currency": "IDR"
}
}
],
"customerDetails": {
"email": "john@example.com",
"firstName": "John.",
"lastName": "Doe",
"phone": "085688983935"
}
}
}
JSON
    '51' => [ '/ordersnap/api/v1.0/qr/qr-mpm-query', <<'JSON' ],
{
"originalReferenceNo": "T24110003164",
"serviceCode": "51"
}
JSON
    '93' => [ '/v1.0/qr/qr-mpm-expire-billnumber', <<'JSON' ],
{
"billnumber" : "10092081",
"additionalInfo" : {
"merchantId" : "121xxxx"
}
}
JSON
);

my %mandatory = (
    '52' => [qw(originalReferenceNo originalPartnerReferenceNo
        latestTransactionStatus transactionStatusDesc amount amount.value
        amount.currency)],
    '56' => [qw(originalReferenceNo originalPartnerReferenceNo
        latestTransactionStatus transactionStatusDesc createdTime)],
    '47' => [qw(partnerReferenceNo amount amount.value amount.currency
        validityPeriod additionalInfo additionalInfo.acquirer
        additionalInfo.items additionalInfo.items[].id
        additionalInfo.items[].name additionalInfo.items[].quantity
        additionalInfo.items[].price additionalInfo.items[].price.value
        additionalInfo.items[].price.currency additionalInfo.customerDetails
        additionalInfo.customerDetails.email
        additionalInfo.customerDetails.firstName
        additionalInfo.customerDetails.lastName
        additionalInfo.customerDetails.phone)],
    '51' => [qw(originalReferenceNo serviceCode)],
    '93' => [qw(billnumber additionalInfo additionalInfo.merchantId)],
);

# path => [ bad value, ... ]; the failure names the same path ([0] for [])
my %formats = (
    '52' => {
        'amount.value' => [ '20', '20.0', '20.000', '12345678901234567.00',
            '-1.00', ' 20.00', 20.00, '1e3.00' ],
        'amount.currency' => [ 'idr', 'IDRX', 'ID', 360 ],
        'amount' => [ '20.00', [] ],
        'latestTransactionStatus' => [ '10', '0', '000', 0, 'OK' ],
        'transactionStatusDesc' => [ 1, {}, JSON::PP::true ],
        'originalReferenceNo' => [ 12345 ],
        'additionalInfo' => [ 'x' ],
        'externalStoreId' => [ 7 ],
    },
    '56' => {
        'createdTime' => [ '2024-08-23 07:44:11', '2024-08-23T07:44:11',
            '2024-02-30T07:44:11+07:00', 'yesterday' ],
    },
    '47' => {
        'partnerReferenceNo' => [ 'x' x 37 ],
        'merchantId' => [ 'm' x 65 ],
        'storeId' => [ 's' x 17 ],
        'validityPeriod' => [ 'tomorrow', '2025-12-04T11:00:00.000+07:00' ],
        'additionalInfo.acquirer' => [ '3', 3.5 ],
        'additionalInfo.items' => [ 'x', {} ],
        'additionalInfo.items[].price.currency' => [ 'rp' ],
        'additionalInfo.items[].price.value' => [ {}, [] ],
        'additionalInfo.customerDetails.email' => [ [] ],
    },
    '51' => { 'serviceCode' => [ 51 ] },
    '93' => { 'additionalInfo.merchantId' => [ 121 ] },
);

my $json = JSON::PP->new->canonical;

sub walk_set {
    my ($doc, $path, $value, $delete) = @_;
    my @seg = split /\./, $path;
    my $node = $doc;
    while (@seg > 1) {
        my $s = shift @seg;
        if ($s =~ s/\[\]$//) { $node = $node->{$s}[0] } else { $node = $node->{$s} }
    }
    my $last = $seg[0];
    if ($last =~ s/\[\]$//) { $node = $node->{$last}; $last = 0;
        if ($delete) { splice @$node, 0, 1 } else { $node->[0] = $value } return }
    if ($delete) { delete $node->{$last} } else { $node->{$last} = $value }
}

sub shown { my $p = shift; $p =~ s/\[\]/[0]/g; $p }

for my $svc (sort keys %seed) {
    my ($path, $body) = @{$seed{$svc}};

    my $r = $t->snap($p, path => $path, token => $token, body => $body);
    is($r->{status}, 200, "$svc: the seed's sample body passes")
        or diag($r->{raw});

    my $doc = decode_json($body);
    $doc->{somethingNew} = { nested => [1, 2] };
    $r = $t->snap($p, path => $path, token => $token,
        body => $json->encode($doc));
    is($r->{status}, 200, "$svc: unknown extra fields are allowed");

    for my $field (@{$mandatory{$svc}}) {
        my $d = decode_json($body);
        walk_set($d, $field, undef, 1);
        my $r = $t->snap($p, path => $path, token => $token,
            body => $json->encode($d));
        my $want = shown($field);
        # deleting an array's only element leaves nothing to check
        if ($field =~ /\[\]$/ && $field !~ /\[\]\./) {
            next;
        }
        is_snap_error($r, "400${svc}02", "Invalid Mandatory Field $want",
            "$svc: $field missing");

        $d = decode_json($body);
        walk_set($d, $field, undef, 0);
        $r = $t->snap($p, path => $path, token => $token,
            body => $json->encode($d));
        is_snap_error($r, "400${svc}02", "Invalid Mandatory Field $want",
            "$svc: $field null");
    }

    for my $field (sort keys %{$formats{$svc} || {}}) {
        for my $bad (@{$formats{$svc}{$field}}) {
            my $d = decode_json($body);
            walk_set($d, $field, $bad, 0);
            my $b = $json->encode($d);
            my $r = $t->snap($p, path => $path, token => $token, body => $b);
            is_snap_error($r, "400${svc}01",
                'Invalid Field Format ' . shown($field),
                "$svc: $field = " . $json->allow_nonref->encode($bad));
        }
    }

    $r = $t->snap($p, path => $path, token => $token, body => '[]');
    is_snap_error($r, "400${svc}00", 'Bad Request', "$svc: an array body");
    $r = $t->snap($p, path => $path, token => $token, body => '');
    is_snap_error($r, "400${svc}00", 'Bad Request', "$svc: an empty body");
}

# the failure names the element of the array
my $gen = decode_json($seed{47}[1]);
push @{$gen->{additionalInfo}{items}},
    { id => 'b', name => 'B', quantity => '2',
      price => { value => '5.00', currency => 'usd' } };
my $r = $t->snap($p, path => $seed{47}[0], token => $token,
    body => $json->encode($gen));
is_snap_error($r, '4004701',
    'Invalid Field Format additionalInfo.items[1].price.currency',
    'the second item is named by its index');

# snap_require
my $body = '{"additionalInfo":{"rrn":"1"},"items":[{"id":"a"},{"id":"b"}]}';
$r = $t->snap($p, path => '/required', token => $token, body => $body);
is($r->{status}, 200, 'snap_require: present fields pass');
$r = $t->snap($p, path => '/required', token => $token,
    body => '{"additionalInfo":{},"items":[]}');
is_snap_error($r, '4005202', 'Invalid Mandatory Field additionalInfo.rrn',
    'snap_require: nested field missing');
$r = $t->snap($p, path => '/required', token => $token,
    body => '{"additionalInfo":{"rrn":"1"},"items":[{"id":"a"},{"name":"x"}]}');
is_snap_error($r, '4005202', 'Invalid Mandatory Field items[1].id',
    'snap_require: array element field missing');
$r = $t->snap($p, path => '/required', token => $token,
    body => '{"additionalInfo":{"rrn":"1"},"items":{"id":"a"}}');
is_snap_error($r, '4005201', 'Invalid Field Format items',
    'snap_require: not an array');
$r = $t->snap($p, path => '/required', token => $token,
    body => '{"additionalInfo":"x","items":[]}');
is_snap_error($r, '4005201', 'Invalid Field Format additionalInfo.rrn',
    'snap_require: parent not an object');

$r = $t->snap($p, path => '/required', token => $token,
    body => '{"additionalInfo":{"rr\\u006e":"1"},"items":[]}');
is($r->{status}, 200, 'snap_require: a name matches with its escapes resolved');
is(($t->upstream_requests)[-1]{body},
    '{"additionalInfo":{"rr\\u006e":"1"},"items":[]}',
    'snap_require: the upstream gets the body as sent');
$r = $t->snap($p, path => '/required', token => $token,
    body => '{"additionalInfo":{"rrn":null},"items":[]}');
is_snap_error($r, '4005202', 'Invalid Mandatory Field additionalInfo.rrn',
    'snap_require: a member set to null is missing');

# a bare code brings no profile
$r = $t->snap($p, path => '/code-only', token => $token, body => '{}');
is($r->{status}, 200, 'snap_verify CODE checks no body fields');

# configuration errors
for my $case (
    [ 'snap_require a..b;', qr/invalid field path "a\.\.b"/ ],
    [ 'snap_require items[.id;', qr/invalid field path "items\[\.id"/ ],
    [ 'snap_require .a;', qr/invalid field path "\.a"/ ],
    [ 'snap_require a[]b;', qr/invalid field path "a\[\]b"/ ],
    [ join(' ', map { "snap_require f$_.g;" } 1 .. 130),
        qr/too many body fields to check in one location/,
        '130 snap_require paths through 260 names' ],
) {
    $t->config_fails(<<"EOF", $case->[1], $case->[2] // $case->[0]);
    snap_client QoinSnap public_key=$p->{pem} secret_file=$p->{secret_file};
    snap_token_key $key;
    server { listen 127.0.0.1:%%PORT%%; location / { snap_verify 52; $case->[0] } }
EOF
}

is($t->upstream_count, 5 * 2 + 3, 'the upstream saw only the valid bodies');

$t->done;
