# Server tests: framing and positions, transcripts against the real binary,
# typed-ahead / TCP / complete / bench through the binary, real editor
# clients (headless Neovim, a Node client on vscode-jsonrpc), and a libFuzzer
# run over framing and dispatch.
set(MTPC_LSP_SERVER_TESTS
  ${CMAKE_CURRENT_SOURCE_DIR}/server_fixture.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/server_framing_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/server_transcript_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/server_process_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/server_e2e_test.cpp)
add_executable(mtpc_lsp_server_tests ${MTPC_LSP_SERVER_TESTS})
target_include_directories(mtpc_lsp_server_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(mtpc_lsp_server_tests PRIVATE mtpc_lsp mtpc_test_fixture_model GTest::gtest GTest::gtest_main)

# The Node client's packages, pinned by package-lock.json, installed into the
# build dir (never committed). A failed install fails the Node test, not the
# configure: the rest of the suite still runs.
set(MTPC_E2E_NODE_DIR ${CMAKE_CURRENT_BINARY_DIR}/e2e-node)
find_program(MTPC_NPM_FOR_E2E npm)
set(MTPC_E2E_NODE_REQUIRED 0)
if(MTPC_NPM_FOR_E2E)
  set(MTPC_E2E_NODE_REQUIRED 1)
  file(MAKE_DIRECTORY ${MTPC_E2E_NODE_DIR})
  foreach(f package.json package-lock.json)
    configure_file(${PROJECT_SOURCE_DIR}/tests/e2e/node/${f} ${MTPC_E2E_NODE_DIR}/${f} COPYONLY)
  endforeach()
  file(SHA256 ${PROJECT_SOURCE_DIR}/tests/e2e/node/package-lock.json _mtpc_lock_sha)
  if(NOT EXISTS ${MTPC_E2E_NODE_DIR}/node_modules/.mtpc-${_mtpc_lock_sha})
    message(STATUS "mtpc: npm ci for the Node LSP client test")
    execute_process(COMMAND ${MTPC_NPM_FOR_E2E} ci --no-audit --no-fund --silent
                    WORKING_DIRECTORY ${MTPC_E2E_NODE_DIR} RESULT_VARIABLE _mtpc_npm_rc
                    OUTPUT_QUIET ERROR_VARIABLE _mtpc_npm_err TIMEOUT 300)
    if(_mtpc_npm_rc EQUAL 0)
      file(TOUCH ${MTPC_E2E_NODE_DIR}/node_modules/.mtpc-${_mtpc_lock_sha})
    else()
      message(WARNING "mtpc: npm ci for the Node client test failed (${_mtpc_npm_rc}): ${_mtpc_npm_err}")
    endif()
  endif()
endif()

target_compile_definitions(mtpc_lsp_server_tests PRIVATE
  MTPC_BINARY="$<TARGET_FILE:mtpc>"
  MTPC_TRANSCRIPTS_DIR="${CMAKE_CURRENT_SOURCE_DIR}/transcripts"
  MTPC_E2E_DIR="${PROJECT_SOURCE_DIR}/tests/e2e"
  MTPC_E2E_NODE_DIR="${MTPC_E2E_NODE_DIR}"
  MTPC_E2E_NODE_REQUIRED=${MTPC_E2E_NODE_REQUIRED})
add_dependencies(mtpc_lsp_server_tests mtpc)
gtest_discover_tests(mtpc_lsp_server_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)

# libFuzzer over framing + dispatch, built with clang-14 when it is there.
# The model is a torch-free stand-in (server_fuzz.cpp); the server core and
# the tree-sitter context are the real ones.
find_program(MTPC_CLANG14 clang++-14)
if(NOT MTPC_CLANG14)
  message(STATUS "mtpc: clang++-14 not found; the LSP and HTTP fuzzers are not built (scripts/setup installs it)")
endif()

# A clang-14 libFuzzer target over the torch-free LSP core (the real server
# core and tree-sitter context; a stand-in model), its test run for SECONDS
# from SEEDS (a source folder) with a corpus kept in the build tree.
#   mtpc_lsp_fuzzer(TARGET t SOURCE x.cpp TEST Name.Case SECONDS s SEEDS dir
#                   COMMENT "..." [DEPENDS extra files])
function(mtpc_lsp_fuzzer)
  cmake_parse_arguments(F "" "TARGET;SOURCE;TEST;SECONDS;SEEDS;COMMENT" "DEPENDS" ${ARGN})
  if(NOT MTPC_CLANG14)
    return()
  endif()
  set(_bin ${CMAKE_CURRENT_BINARY_DIR}/${F_TARGET})
  add_custom_command(
    OUTPUT ${_bin}
    COMMAND ${MTPC_CLANG14} -std=c++17 -O1 -g -fsanitize=fuzzer,address -D_GLIBCXX_USE_CXX11_ABI=1
            -I${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/${F_SOURCE} ${MTPC_LSP_CORE_SOURCES}
            ${PROJECT_SOURCE_DIR}/base/metrics.cpp ${PROJECT_SOURCE_DIR}/base/atomic_file.cpp
            $<TARGET_FILE:mtpc_completion> $<TARGET_FILE:mtpc_ts_grammars> -ltree-sitter -lcrypto -lpthread
            -o ${_bin}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${F_SOURCE} ${F_DEPENDS} ${MTPC_LSP_CORE_SOURCES}
            ${PROJECT_SOURCE_DIR}/base/metrics.cpp ${PROJECT_SOURCE_DIR}/base/atomic_file.cpp
            mtpc_completion mtpc_ts_grammars
    COMMENT "${F_COMMENT}"
    VERBATIM)
  add_custom_target(mtpc_${F_TARGET}er ALL DEPENDS ${_bin})
  add_test(NAME ${F_TEST}
           COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
                   ${_bin} -max_total_time=${F_SECONDS} -rss_limit_mb=2048 -timeout=20
                   -print_final_stats=1 ${CMAKE_CURRENT_BINARY_DIR}/${F_TARGET}-corpus
                   ${CMAKE_CURRENT_SOURCE_DIR}/${F_SEEDS})
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/${F_TARGET}-corpus)
  set_tests_properties(${F_TEST} PROPERTIES TIMEOUT 300)
endfunction()

set(MTPC_FUZZ_SECONDS 30 CACHE STRING "How long `make test` fuzzes the server")
mtpc_lsp_fuzzer(TARGET lsp_server_fuzz SOURCE server_fuzz.cpp TEST LspServerFuzz.FramingAndDispatch
                SECONDS ${MTPC_FUZZ_SECONDS} SEEDS fuzz_seeds
                COMMENT "clang-14 libFuzzer target over LSP framing and dispatch"
                DEPENDS ${PROJECT_SOURCE_DIR}/tests/common/stand_in_tokenizer.h)

# libFuzzer over the access path (tokens file, initialize with any token or
# options): tests/lsp/auth_fuzz.cpp.
set(MTPC_AUTH_FUZZ_SECONDS 20 CACHE STRING "How long `make test` fuzzes the auth path")
mtpc_lsp_fuzzer(TARGET lsp_auth_fuzz SOURCE auth_fuzz.cpp TEST LspAuthFuzz.TokensAndInitialize
                SECONDS ${MTPC_AUTH_FUZZ_SECONDS} SEEDS auth_fuzz_seeds
                COMMENT "clang-14 libFuzzer target over the LSP auth path")
