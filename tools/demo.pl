#!/usr/bin/perl

# `make demo`: the whole SNAP flow against `make run`, step by step, as a
# provider (QoinSnap) calling the merchant; then a call nginx signs.

use strict;
use warnings;
use Crypt::OpenSSL::RSA;
use Digest::SHA qw(sha256_hex hmac_sha512);
use HTTP::Tiny;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime);
use FindBin;

my $base = $ENV{SNAP_URL} || 'http://127.0.0.1:8080';
my $demo = $ENV{SNAP_DEMO_DIR} || "$FindBin::Bin/../demo";
my $http = HTTP::Tiny->new(timeout => 5);

sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $! (run `make run` first)\n"; local $/; my $c = <$fh>; $c =~ s/\s+$//; $c }

my $rsa = Crypt::OpenSSL::RSA->new_private_key(slurp("$demo/partner.key"));
$rsa->use_sha256_hash;
my $secret = slurp("$demo/partner.secret");

sub ts { strftime('%Y-%m-%dT%H:%M:%S+07:00', gmtime(time + 7 * 3600)) }

sub show {
    my ($step, $res) = @_;
    printf "\n== %s\n-> HTTP %s %s\n", $step, $res->{status}, $res->{content};
    return $res;
}

# 1. Access Token B2B: RSA over X-CLIENT-KEY|X-TIMESTAMP
my $ts = ts();
my $res = show('Access Token B2B (RSA SHA256 over "QoinSnap|X-TIMESTAMP")',
    $http->post("$base/api/v1.0/access-token/b2b", {
        headers => { 'Content-Type' => 'application/json',
            'X-TIMESTAMP' => $ts, 'X-CLIENT-KEY' => 'QoinSnap',
            'X-SIGNATURE' => encode_base64($rsa->sign("QoinSnap|$ts"), '') },
        content => '{"grantType":"client_credentials","additionalInfo":{}}',
    }));
my $token = eval { decode_json($res->{content})->{accessToken} }
    or die "no token\n";

# 2. a signed QRIS notification
my $path = '/api/v1.0/qr/qr-mpm-notify';
my $body = <<'JSON';
{
  "originalReferenceNo": "T25050000799117",
  "originalPartnerReferenceNo": "18000245195080000010",
  "latestTransactionStatus": "00",
  "transactionStatusDesc": "Success",
  "amount": { "value": "20.00", "currency": "IDR" },
  "additionalInfo": { "rrn": "305080000010" }
}
JSON
(my $min = $body) =~ s/("(?:[^"\\]|\\.)*")|\s+/defined $1 ? $1 : ''/ge;
my $ext = time . sprintf('%06d', $$);

sub notify {
    my ($step, %o) = @_;
    my $ts = ts();
    my $sts = "POST:$path:$token:" . sha256_hex($min) . ":$ts";
    my $sig = encode_base64(hmac_sha512($sts, $secret), '');
    $sig =~ tr/A-Za-z/B-ZAb-za/ if $o{tamper};
    print "\nstring to sign: $sts\n" unless $o{quiet};
    return show($step, $http->post("$base$path", {
        headers => { 'Content-Type' => 'application/json',
            'Authorization' => "Bearer $token", 'X-TIMESTAMP' => $ts,
            'X-SIGNATURE' => $sig, 'X-PARTNER-ID' => 'QoinSnap',
            'X-EXTERNAL-ID' => $o{ext}, 'CHANNEL-ID' => '95221' },
        content => $body }));
}

notify('QRIS notification, HMAC-SHA512, X-EXTERNAL-ID ' . $ext, ext => $ext);
notify('the same X-EXTERNAL-ID again the same day', ext => $ext, quiet => 1);
notify('a tampered signature', ext => $ext . '1', tamper => 1, quiet => 1);

# 3. the other direction: the merchant app posts plain JSON, nginx signs
my $out = $ENV{SNAP_OUT_URL} || 'http://127.0.0.1:8082';
show('outbound: plain JSON to nginx, which fetches a token, signs, sends',
    $http->post("$out$path", {
        headers => { 'Content-Type' => 'application/json' },
        content => $body }));

print "\nrejections are in demo/error.log and demo/access.log, "
    . "signed calls in demo/outbound.log\n";
