package SnapProvider;

# A mock SNAP provider, the other side of snap_sign: QoinHub's Access Token
# B2B and its transactional endpoints, with signature code of its own
# (Crypt::OpenSSL::RSA, Digest::SHA), never the module's.  It speaks plain
# HTTP on a loopback port; the tests put an nginx terminating TLS with a
# test CA in front of it.  Every request it gets is recorded with its
# verdict; its behaviour is changed between requests through files in its
# ctl/ directory.

use strict;
use warnings;

use Digest::SHA qw(sha256_hex hmac_sha512);
use IO::Socket::INET;
use Socket ();
use JSON::PP;
use MIME::Base64 qw(decode_base64 encode_base64);
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use Time::Local qw(timegm);

use Crypt::OpenSSL::RSA;

my $json = JSON::PP->new->canonical;

# new(dir => DIR, client_id =>, partner_id =>, channel_id =>, secret =>,
#     public_key => PEM text of the merchant's key)
sub new {
    my ($class, %o) = @_;
    my $self = bless { %o, owner => $$ }, $class;
    mkdir "$self->{dir}";
    mkdir "$self->{dir}/ctl";
    mkdir "$self->{dir}/req";
    $self->{port} = SnapTest::free_port();
    return $self;
}

sub port { $_[0]{port} }

# set(NAME => VALUE): expires_in (seconds), token_status (answer the token
# call with this status), token_bad (answer it 200 without a token),
# token_html (answer it 200 with an HTML page), token_pad (add this many
# bytes to a token answer, as a CDN's error page would), token_reset (close
# the token call's connection without an answer), token_delay (seconds
# before the token call is answered), revoke (refuse every token issued so
# far, once), revoke_all (answer every transaction 401xx01, whatever its
# token), refuse (answer the next transaction 401xx00, once), tx_append
# (text added to every accepted transaction's answer), token_length (the
# issued token's characters, 43 by default), token_type (tokenType, Bearer
# by default), expires_int (expiresIn as a JSON number, not a string)
sub set {
    my ($self, $name, $value) = @_;
    my $f = "$self->{dir}/ctl/$name";
    if (defined $value) {
        open my $fh, '>', "$f.tmp" or die "$f: $!";
        print $fh $value;
        close $fh;
        rename "$f.tmp", $f;
    } else {
        unlink $f;
    }
}

sub ctl {
    my ($self, $name) = @_;
    my $f = "$self->{dir}/ctl/$name";
    open my $fh, '<', $f or return undef;
    local $/;
    my $v = <$fh>;
    close $fh;
    return $v;
}

sub start {
    my ($self) = @_;
    my $server = IO::Socket::INET->new(Listen => 256,
        LocalAddr => "127.0.0.1:$self->{port}", Proto => 'tcp',
        ReuseAddr => 1) or die "provider: $!";

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        local $SIG{TERM} = sub { exit 0 };
        $self->{tokens} = {};
        $self->{ids} = {};
        $self->{n} = 0;
        while (my $c = $server->accept) {
            my $req = SnapTest::_read_request($c);
            next unless defined $req;
            my ($status, $body) = $self->answer($req);
            if (!defined $status) {
                # no answer at all: the connection is reset
                setsockopt($c, Socket::SOL_SOCKET(), Socket::SO_LINGER(),
                    pack('ii', 1, 0));
                close $c;
                next;
            }
            print $c "HTTP/1.1 $status X\r\nContent-Type: application/json\r\n"
                . "Content-Length: " . length($body) . "\r\n"
                . "Connection: close\r\n\r\n$body";
            close $c;
        }
        exit 0;
    }
    close $server;
    $self->{pid} = $pid;
    return $self;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    waitpid $pid, 0;
}

# a forked child of the test never stops the provider
sub DESTROY { $_[0]->stop if $_[0]{owner} == $$ }

sub error {
    my ($status, $service, $case, $message) = @_;
    return ($status, $json->encode({
        responseCode => sprintf('%03d%02d%02d', $status, $service, $case),
        responseMessage => $message }));
}

# seconds since the epoch of an X-TIMESTAMP with +07:00, or undef
sub parse_ts {
    my ($ts) = @_;
    return undef unless ($ts // '')
        =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\+07:00$/;
    return timegm($6, $5, $4, $3, $2 - 1, $1) - 7 * 3600;
}

sub record {
    my ($self, %r) = @_;
    my $f = sprintf '%s/req/%05d', $self->{dir}, ++$self->{n};
    open my $fh, '>', "$f.tmp" or die "$f: $!";
    print $fh $json->encode(\%r);
    close $fh;
    rename "$f.tmp", $f;
}

sub answer {
    my ($self, $raw) = @_;
    my ($head, $body) = $raw =~ /^(.*?)\r\n\r\n(.*)$/s;
    my ($method, $path) = $head =~ m{^(\S+) (\S+)};
    my (%h, %count);
    for (split /\r\n/, $head) {
        next unless /^([^:]+):\s*(.*)$/;
        (my $k = lc $1) =~ tr/_/-/;
        $count{$k}++;
        $h{$k} = $2;
    }

    my ($status, $answer, $verdict);
    if ($path =~ m{/access-token/b2b$}) {
        ($status, $answer, $verdict) = $self->token($method, \%h, $body);
        $self->record(kind => 'token', method => $method, path => $path,
            headers => \%h, count => \%count, body => $body,
            verdict => $verdict, status => $status, time => time);
    } else {
        ($status, $answer, $verdict) = $self->transaction($method, $path,
            \%h, \%count, $body);
        $self->record(kind => 'transaction', method => $method,
            path => $path, headers => \%h, count => \%count, body => $body,
            verdict => $verdict, status => $status, time => time);
    }
    return ($status, $answer);
}

sub token {
    my ($self, $method, $h, $body) = @_;

    if (my $delay = $self->ctl('token_delay')) {
        sleep $delay;
    }
    return (undef, undef, 'reset') if defined $self->ctl('token_reset');
    if (my $st = $self->ctl('token_status')) {
        my ($s, $b) = error($st, 73, 0, 'Service Unavailable');
        return ($s, $b . (' ' x ($self->ctl('token_pad') // 0)), 'down');
    }
    return (200, '<html><body>' . ('x' x ($self->ctl('token_pad') // 0))
        . '</body></html>', 'html') if defined $self->ctl('token_html');
    return (200, '{"responseCode":"2007300","responseMessage":"Successful"}',
        'no token') if defined $self->ctl('token_bad');
    return (error(400, 73, 2, 'Invalid Mandatory Field'), 'headers')
        unless $method eq 'POST' && $h->{'x-timestamp'}
            && $h->{'x-client-key'} && $h->{'x-signature'};
    return (error(401, 73, 0, 'Unauthorized. [Unknown client]'), 'client')
        unless $h->{'x-client-key'} eq $self->{client_id};
    my $t = parse_ts($h->{'x-timestamp'});
    return (error(401, 73, 0, 'Unauthorized. [Timestamp]'), 'timestamp')
        unless defined $t && abs(time - $t) < 300;

    my $rsa = Crypt::OpenSSL::RSA->new_public_key($self->{public_key});
    $rsa->use_sha256_hash;
    my $sig = decode_base64($h->{'x-signature'});
    return (error(401, 73, 0, 'Unauthorized. [Signature]'), 'signature')
        unless eval { $rsa->verify("$self->{client_id}|$h->{'x-timestamp'}",
            $sig) };

    my $grant = eval { $json->decode($body) } || {};
    return (error(400, 73, 1, 'Invalid Field Format grantType'), 'grant')
        unless ($grant->{grantType} // '') eq 'client_credentials';

    my $expires = $self->ctl('expires_in') // 900;
    my $token = 'tok' . join '', map { ('a' .. 'z', 0 .. 9)[rand 36] }
        1 .. (($self->ctl('token_length') // 43) - 3);
    $self->{tokens}{$token} = time + $expires;
    my $answer = $json->encode({ responseCode => '2007300',
        responseMessage => 'Successful', accessToken => $token,
        tokenType => $self->ctl('token_type') // 'Bearer',
        expiresIn => $self->ctl('expires_int') ? $expires + 0
                                               : "$expires" });
    my $pad = $self->ctl('token_pad') // 0;
    $answer =~ s/\}$/' ' x $pad . '}'/e if $pad;
    return (200, $answer, 'issued');
}

sub transaction {
    my ($self, $method, $path, $h, $count, $body) = @_;
    my $service = $path =~ /qr-mpm-generate/ ? 47
        : $path =~ /qr-mpm-query/ ? 51 : $path =~ /expire/ ? 93 : 0;

    if (defined $self->ctl('revoke')) {
        $self->set('revoke');
        $self->{tokens} = {};
    }
    if (defined $self->ctl('revoke_all')) {
        return (error(401, $service, 1, 'Invalid Token (B2B)'), 'revoked');
    }
    if (defined $self->ctl('refuse')) {
        $self->set('refuse');
        return (error(401, $service, 0, 'Unauthorized. [Signature]'),
            'refused');
    }

    for my $k (qw(x-timestamp x-signature x-partner-id x-external-id
        channel-id authorization)) {
        return (error(400, $service, 2, "Invalid Mandatory Field $k"),
            "missing $k") unless defined $h->{$k};
        return (error(400, $service, 1, "Invalid Field Format $k"),
            "repeated $k") if $count->{$k} > 1;
    }
    my ($token) = $h->{authorization} =~ /^Bearer (\S+)$/;
    my $exp = defined $token ? $self->{tokens}{$token} : undef;
    return (error(401, $service, 1, 'Invalid Token (B2B)'), 'token')
        unless defined $exp && time < $exp;
    my $t = parse_ts($h->{'x-timestamp'});
    return (error(401, $service, 0, 'Unauthorized. [Timestamp]'),
        'timestamp') unless defined $t && abs(time - $t) < 300;
    return (error(400, $service, 1, 'Invalid Field Format X-EXTERNAL-ID'),
        'external id') unless $h->{'x-external-id'} =~ /^\d{1,36}$/;
    return (error(401, $service, 0, 'Unauthorized. [Unknown client]'),
        'partner') unless $h->{'x-partner-id'} eq $self->{partner_id}
            && $h->{'channel-id'} eq $self->{channel_id};

    # SNAP's minify: whitespace outside strings; then the string to sign
    my $hash = sha256_hex(SnapTest::minify($body // ''));
    my $sts = "$method:$path:$token:$hash:$h->{'x-timestamp'}";
    my $want = encode_base64(hmac_sha512($sts, $self->{secret}), '');
    return (error(401, $service, 0, 'Unauthorized. [Signature]'),
        'signature') unless $want eq $h->{'x-signature'};

    my $day = substr $h->{'x-timestamp'}, 0, 10;
    return (error(409, $service, 0, 'Conflict'), 'replay')
        if $self->{ids}{"$day $h->{'x-external-id'}"}++;

    return (200, $json->encode({
        responseCode => sprintf('200%02d00', $service),
        responseMessage => 'Successful', referenceNo => "R$self->{n}" })
        . ($self->ctl('tx_append') // ''), 'accepted');
}

# What it received: a list of { kind, method, path, headers, count, body,
# verdict, status, time }, in order.
sub requests {
    my ($self, $kind) = @_;
    opendir my $dh, "$self->{dir}/req" or return ();
    my @files = sort grep { /^\d{5}$/ } readdir $dh;
    closedir $dh;
    my @r;
    for my $f (@files) {
        open my $fh, '<', "$self->{dir}/req/$f" or next;
        local $/;
        my $r = $json->decode(<$fh>);
        close $fh;
        push @r, $r if !defined $kind || $r->{kind} eq $kind;
    }
    return @r;
}

1;
