# ngx_http_snap_module: build against Debian's nginx-dev, test with the real
# /usr/sbin/nginx.  `make test` and `make run` install what is missing first.

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
BUILD      ?= build
MODULE     := $(BUILD)/ngx_http_snap_module.so
# Debian's nginx-dev is configured in place; any other tree in a copy
NGINX_TREE = $(if $(wildcard $(NGINX_SRC)/conf_flags),$(NGINX_SRC),$(CURDIR)/$(BUILD)/nginx-src)
SOURCES    := $(wildcard src/*.c src/*.h src/lib/*.c src/lib/*.h) config
CC         ?= cc
UNIT_FLAGS := -std=c99 -O1 -g -Wall -Wextra -Werror -Isrc/lib

# `make` and `make install` need only these; the test toolchain comes with
# `make test` (and its kin) alone
BUILD_DEPS   := nginx nginx-dev libssl-dev pkg-config dpkg-dev gcc make
TEST_DEPS    := libcjson-dev libcrypt-openssl-rsa-perl curl openssl \
                faketime clang libclang-rt-14-dev redis-server redis-sentinel \
                iproute2 gdb prometheus
DEB_PACKAGES ?= $(BUILD_DEPS)

.PHONY: all deps test-deps install uninstall unit test run demo clean fuzz \
        alerts \
        fuzz-regress test-asan valgrind bench bench-compare test-nginx deb \
        deb-check check ci

ASAN_BUILD  := build-asan
ASAN_MODULE := $(ASAN_BUILD)/ngx_http_snap_module.so
ASAN_FLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all \
               -fno-omit-frame-pointer

FUZZ_TARGETS := minify minify_diff timestamp base64 token fields header resp \
                compat token_reply prom
FUZZ_SECONDS ?= 60
# the nginx-free core, linked alone
FUZZ_SRCS    := $(wildcard src/lib/*.c)
FUZZ_DEPS    := $(FUZZ_SRCS) $(wildcard src/lib/*.h)
# the cJSON reference the fields target compares the checker with
FUZZ_REF     := fuzz/ref_fields.c
FUZZ_LIBS    := -lcrypto -lcjson

all: $(MODULE)

$(BUILD)/Makefile: config tools/configure.sh
	@$(MAKE) --no-print-directory deps
	NGINX_SRC=$(NGINX_SRC) tools/configure.sh . $(BUILD)

$(MODULE): $(BUILD)/Makefile $(SOURCES)
	$(MAKE) -f $(CURDIR)/$(BUILD)/Makefile -C $(NGINX_TREE) modules

test-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES="$(BUILD_DEPS) $(TEST_DEPS)"

# Install Debian's packages that are missing (as root, or through sudo).
deps:
	@missing=""; \
	for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ]; then sudo=""; \
	    elif command -v sudo >/dev/null; then sudo=sudo; \
	    else echo "missing packages:$$missing; run as root or install" \
	              "them: apt-get install$$missing" >&2; exit 1; fi; \
	    echo "installing:$$missing"; \
	    $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi

# The Debian layout: the .so beside Debian's own modules, a load file in
# modules-available, enabled through modules-enabled.
install: $(MODULE)
	install -D -m 0644 $(MODULE) \
	    $(DESTDIR)/usr/lib/nginx/modules/ngx_http_snap_module.so
	install -d $(DESTDIR)/usr/share/nginx/modules-available \
	    $(DESTDIR)/etc/nginx/modules-enabled
	echo "load_module modules/ngx_http_snap_module.so;" \
	    > $(DESTDIR)/usr/share/nginx/modules-available/mod-http-snap.conf
	ln -sf /usr/share/nginx/modules-available/mod-http-snap.conf \
	    $(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-snap.conf

uninstall:
	rm -f $(DESTDIR)/usr/lib/nginx/modules/ngx_http_snap_module.so \
	    $(DESTDIR)/usr/share/nginx/modules-available/mod-http-snap.conf \
	    $(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-snap.conf

$(BUILD)/unit_tests: unit/test_lib.c $(FUZZ_DEPS) | test-deps
	@mkdir -p $(BUILD)
	$(CC) $(UNIT_FLAGS) -o $@ unit/test_lib.c $(FUZZ_SRCS) -lcrypto

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

# The kept fuzz corpora (seeds and every crash found) run under gcc's
# sanitizers without libFuzzer, as regression tests.
$(BUILD)/regress/%: fuzz/fuzz_%.c fuzz/driver.c $(FUZZ_DEPS) $(FUZZ_REF)
	@mkdir -p $(BUILD)/regress
	$(CC) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all \
	    -fno-omit-frame-pointer -Isrc/lib -o $@ $< fuzz/driver.c $(FUZZ_SRCS) \
	    $(FUZZ_REF) $(FUZZ_LIBS)

fuzz-regress: $(addprefix $(BUILD)/regress/,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    $(BUILD)/regress/$$t fuzz/corpus/$$t/* || exit 1; \
	done

# libFuzzer (clang): each target for FUZZ_SECONDS, growing a corpus in
# build/fuzz; a crash stops the run and is left in build/fuzz/crash-*.
$(BUILD)/fuzz/%: fuzz/fuzz_%.c $(FUZZ_DEPS) $(FUZZ_REF)
	@mkdir -p $(BUILD)/fuzz
	clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=all -Isrc/lib -o $@ $< $(FUZZ_SRCS) $(FUZZ_REF) \
	    $(FUZZ_LIBS)

fuzz: test-deps $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(BUILD)/fuzz/corpus-$$t; \
	    echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	    $(BUILD)/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(BUILD)/fuzz/crash-$$t- -print_final_stats=1 \
	        $(BUILD)/fuzz/corpus-$$t fuzz/corpus/$$t 2>&1 \
	        | grep -E "^(stat::number_of_executed_units|#[0-9]+ +DONE|==[0-9]+==|SUMMARY)" \
	        ; test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

# the tests mostly wait (on Redis, on Sentinels' failovers, on clocks), so
# two run side by side; each has its own ports and directory
PROVE_JOBS ?= 2

# the shipped alert rules: they parse, and each fires when it should
alerts: test-deps
	promtool check rules contrib/snap-alerts.yml
	cd contrib && promtool test rules snap-alerts.test.yml

test: test-deps $(MODULE) unit fuzz-regress alerts
	SNAP_MODULE=$(CURDIR)/$(MODULE) NGINX_BIN=$(NGINX) \
	    prove -j$(PROVE_JOBS) -r t/

# The whole suite against an nginx built from ../shared/nginx-src:
# make test-nginx VERSION=1.30.4 builds that tree (configured --with-compat
# in a copy under build-VERSION), its nginx binary, the module against it,
# and runs t/ with them.
SHARED   ?= $(CURDIR)/../shared
VERSION  ?=
NGX_TGZ   = $(SHARED)/nginx-src/nginx-$(VERSION).tar.gz
NGX_BUILD = build-$(VERSION)

test-nginx: test-deps
	@test -n "$(VERSION)" -a -f "$(NGX_TGZ)" || { \
	    echo "make test-nginx VERSION=X: no $(NGX_TGZ)" >&2; exit 1; }
	$(MAKE) --no-print-directory BUILD=$(NGX_BUILD) NGINX_SRC=$(NGX_TGZ) all
	$(MAKE) -f $(CURDIR)/$(NGX_BUILD)/Makefile \
	    -C $(CURDIR)/$(NGX_BUILD)/nginx-src -j$$(nproc) binary >/dev/null
	$(CURDIR)/$(NGX_BUILD)/nginx -V 2>&1 | head -1
	SNAP_MODULE=$(CURDIR)/$(NGX_BUILD)/ngx_http_snap_module.so \
	    NGINX_BIN=$(CURDIR)/$(NGX_BUILD)/nginx prove -j$(PROVE_JOBS) -r t/

# The module with ASan and UBSan, their runtime preloaded into the stock
# /usr/sbin/nginx (Debian ships no nginx sources to rebuild it with): the
# whole suite; a report lands in error.log, which every test checks.
$(ASAN_BUILD)/Makefile: config tools/configure.sh
	@$(MAKE) --no-print-directory deps
	NGINX_SRC=$(NGINX_SRC) tools/configure.sh . $(ASAN_BUILD) "$(ASAN_FLAGS)"

$(ASAN_MODULE): $(ASAN_BUILD)/Makefile $(SOURCES)
	$(MAKE) -f $(CURDIR)/$(ASAN_BUILD)/Makefile \
	    -C $(if $(wildcard $(NGINX_SRC)/conf_flags),$(NGINX_SRC),$(CURDIR)/$(ASAN_BUILD)/nginx-src) \
	    modules

test-asan: test-deps $(ASAN_MODULE)
	SNAP_MODULE=$(CURDIR)/$(ASAN_MODULE) NGINX_BIN=$(NGINX) \
	SNAP_PRELOAD=$$($(CC) -print-file-name=libasan.so) \
	    prove -j$(PROVE_JOBS) -r t/

# A representative subset under valgrind, one nginx process in the
# foreground (master_process off): fails on an invalid access anywhere or a
# definite leak in the module.
VALGRIND_TESTS ?= t/01-basics.t t/03-verify.t t/05-profiles.t \
                  t/06-nginx-errors.t t/10-bypass.t t/13-compat.t

valgrind: test-deps $(MODULE)
	@command -v valgrind >/dev/null || $(MAKE) --no-print-directory deps \
	    DEB_PACKAGES=valgrind
	SNAP_MODULE=$(CURDIR)/$(MODULE) NGINX_BIN=$(NGINX) SNAP_VALGRIND=1 \
	    prove $(VALGRIND_TESTS)

$(BUILD)/micro: bench/micro.c $(FUZZ_DEPS)
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -O2 -g -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L \
	    -Isrc/lib -o $@ bench/micro.c $(FUZZ_SRCS) -lcrypto

bench: test-deps $(MODULE) $(BUILD)/micro
	@command -v wrk >/dev/null || $(MAKE) --no-print-directory deps \
	    DEB_PACKAGES=wrk
	SNAP_MODULE=$(CURDIR)/$(MODULE) NGINX_BIN=$(NGINX) \
	    SNAP_MICRO=$(CURDIR)/$(BUILD)/micro perl bench/run.pl

# The verified path on this tree's module against BASE's, interleaved:
# make bench-compare BASE=<git revision>
BASE ?= HEAD
BASE_DIR := $(BUILD)/base

bench-compare: test-deps $(MODULE)
	@command -v wrk >/dev/null || $(MAKE) --no-print-directory deps \
	    DEB_PACKAGES=wrk
	rm -rf $(BASE_DIR) && mkdir -p $(BASE_DIR)
	git archive $(BASE) | tar -x -C $(BASE_DIR)
	$(MAKE) -C $(BASE_DIR) all
	SNAP_MODULE=$(CURDIR)/$(MODULE) NGINX_BIN=$(NGINX) \
	    BASE_MODULE=$(CURDIR)/$(BASE_DIR)/$(MODULE) perl bench/compare.pl

# What CI runs (.ci/run): the suite on Debian's nginx, again under ASan,
# on nginx.org's newest stable and mainline built from ../shared/nginx-src,
# then the package's lintian, install, load, remove and purge
CI_NGINX ?= 1.30.4 1.31.4

ci: test test-asan
	for v in $(CI_NGINX); do \
	    $(MAKE) --no-print-directory test-nginx VERSION=$$v || exit 1; \
	done
	$(MAKE) --no-print-directory deb-check

# `make check URL=... CLIENT=... KEY=... SECRET=...`: tools/snap-check
check:
	@tools/snap-check $(foreach v,URL CLIENT KEY SECRET PARTNER ENDPOINT CA \
	    CONNECT CHANNEL LIVE TOKEN_PATH BODY TOKEN_ONLY,$(if $($(v)),$(v)="$($(v))"))

# The Debian package, built as Debian builds its own nginx modules (dh with
# nginx-dev's buildsystem and dh_nginx) from a copy of the work tree:
# $(BUILD)/libnginx-mod-http-snap_VERSION_ARCH.deb
DEB_DIR := $(BUILD)/deb

deb:
	@$(MAKE) --no-print-directory deps \
	    DEB_PACKAGES="$(BUILD_DEPS) debhelper"
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	git ls-files -z --cached --others --exclude-standard \
	    | xargs -0 tar -c | tar -x -C $(DEB_DIR)/src
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc > ../build.log 2>&1 \
	    || { tail -40 ../build.log; exit 1; }
	cp $(DEB_DIR)/libnginx-mod-http-snap_*.deb $(BUILD)/
	@ls $(BUILD)/libnginx-mod-http-snap_*.deb

# CI only (it installs into this machine's nginx): lintian, then install,
# load, remove and purge the package, checking what is left at each step
deb-check: deb
	@$(MAKE) --no-print-directory deps DEB_PACKAGES=lintian
	tools/deb-check.sh $(BUILD)/libnginx-mod-http-snap_*.deb

run: test-deps $(MODULE)
	tools/run.sh $(CURDIR)/$(MODULE)

demo: test-deps
	tools/demo.pl

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
