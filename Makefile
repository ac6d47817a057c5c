# clipscope: `make run` opens the app, `make test` runs every test.
# Both first install any missing Debian/Ubuntu packages.

SWIFT ?= swift
APT_PACKAGES := pkg-config libopenblas-dev libncurses-dev libpng-dev libsixel-dev libsixel-bin \
	libjpeg62-turbo-dev libfreetype-dev fonts-dejavu-core fonts-droid-fallback zlib1g-dev libsqlite3-dev tmux
RELEASE_BIN := .build/release/clipscope

.PHONY: run test build release deps bench bench-compare clean

# The app on the embedded toy model (its demo is built on first use, as jobs you can watch).
run: deps release
	$(RELEASE_BIN)

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product clipscope

bench: release
	$(RELEASE_BIN) bench

# clipscope beside the same work in PyTorch (needs tools/reference/.venv-torch; see tools/reference/README.md).
bench-compare: release
	python3 tools/bench_compare.py $(RELEASE_BIN)

# Installs what is missing: directly as root, through sudo otherwise,
# or prints the exact command and stops.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; \
		elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; \
		else echo "missing packages; run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq$$missing; \
	fi

clean:
	rm -rf .build
