# ngx_http_snap_module: build against Debian's nginx-dev, test with the real
# /usr/sbin/nginx.  `make test` and `make run` install what is missing first.

NGINX_SRC  ?= /usr/share/nginx/src
NGINX      ?= /usr/sbin/nginx
BUILD      := build
MODULE     := $(BUILD)/ngx_http_snap_module.so
SOURCES    := $(wildcard src/*.c src/*.h) config
CC         ?= cc
UNIT_FLAGS := -std=c99 -O1 -g -Wall -Wextra -Werror -Isrc

DEB_PACKAGES := nginx nginx-dev libcjson-dev libssl-dev pkg-config \
                libcrypt-openssl-rsa-perl curl openssl faketime

.PHONY: all deps install uninstall unit test run demo clean

all: $(MODULE)

$(BUILD)/Makefile: config tools/configure.sh
	@$(MAKE) --no-print-directory deps
	tools/configure.sh . $(BUILD)

$(MODULE): $(BUILD)/Makefile $(SOURCES)
	$(MAKE) -f $(CURDIR)/$(BUILD)/Makefile -C $(NGINX_SRC) modules

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

$(BUILD)/unit_tests: unit/test_lib.c src/ngx_http_snap_lib.c \
                     src/ngx_http_snap_lib.h
	@mkdir -p $(BUILD)
	$(CC) $(UNIT_FLAGS) -o $@ unit/test_lib.c src/ngx_http_snap_lib.c \
	    -lcrypto

unit: $(BUILD)/unit_tests
	$(BUILD)/unit_tests

test: deps $(MODULE) unit
	SNAP_MODULE=$(CURDIR)/$(MODULE) NGINX_BIN=$(NGINX) prove -r t/

run: deps $(MODULE)
	tools/run.sh $(CURDIR)/$(MODULE)

demo: deps
	tools/demo.pl

clean:
	rm -rf $(BUILD)
