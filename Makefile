# Thin wrapper: setup -> configure -> build. See README.md.
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
MODEL ?= model/shipped/heads

.PHONY: all setup configure build test run model clean

all: build

setup:
	@bash scripts/setup

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)

configure: $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: setup
	@$(MAKE) --no-print-directory build
	cd $(BUILD_DIR) && ctest --output-on-failure -j 1 --timeout 900

run: setup
	@$(MAKE) --no-print-directory build
	scripts/serve-demo $(MODEL)

# The shipped model's recipe: corpus from pinned Debian packages, then training
# (hours on 2 cores; resumable). See model/MODEL_CARD.md.
model: setup
	@$(MAKE) --no-print-directory build
	scripts/make-model

clean:
	rm -rf $(BUILD_DIR)
