# HTTP API tests (issue 15): request parsing and dispatch in process, the real
# binary with curl, promtool and the openai npm client (HTTP and HTTPS), the
# access limits shared with LSP, and a libFuzzer run over the HTTP request
# parser and the API's dispatch.
set(MTPC_LSP_HTTP_TESTS
  ${CMAKE_CURRENT_SOURCE_DIR}/server_fixture.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/http_api_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/http_e2e_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/http_access_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/text_sequence_pool_test.cpp)
add_executable(mtpc_lsp_http_tests ${MTPC_LSP_HTTP_TESTS})
target_include_directories(mtpc_lsp_http_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(mtpc_lsp_http_tests PRIVATE mtpc_lsp mtpc_completion_engine mtpc_test_fixture_model
  GTest::gtest GTest::gtest_main)

# The openai npm client, pinned by package-lock.json, installed into the build
# dir by `npm ci` at configure time (as for the Node LSP client). A failed
# install fails the openai test, not the configure.
set(MTPC_E2E_OPENAI_DIR ${CMAKE_CURRENT_BINARY_DIR}/e2e-openai)
find_program(MTPC_NPM_FOR_OPENAI npm)
set(MTPC_E2E_OPENAI_REQUIRED 0)
if(MTPC_NPM_FOR_OPENAI)
  set(MTPC_E2E_OPENAI_REQUIRED 1)
  file(MAKE_DIRECTORY ${MTPC_E2E_OPENAI_DIR})
  foreach(f package.json package-lock.json)
    configure_file(${PROJECT_SOURCE_DIR}/tests/e2e/openai/${f} ${MTPC_E2E_OPENAI_DIR}/${f} COPYONLY)
  endforeach()
  file(SHA256 ${PROJECT_SOURCE_DIR}/tests/e2e/openai/package-lock.json _mtpc_openai_lock_sha)
  if(NOT EXISTS ${MTPC_E2E_OPENAI_DIR}/node_modules/.mtpc-${_mtpc_openai_lock_sha})
    message(STATUS "mtpc: npm ci for the openai client test")
    execute_process(COMMAND ${MTPC_NPM_FOR_OPENAI} ci --no-audit --no-fund --silent
                    WORKING_DIRECTORY ${MTPC_E2E_OPENAI_DIR} RESULT_VARIABLE _mtpc_npm_rc
                    OUTPUT_QUIET ERROR_VARIABLE _mtpc_npm_err TIMEOUT 300)
    if(_mtpc_npm_rc EQUAL 0)
      file(TOUCH ${MTPC_E2E_OPENAI_DIR}/node_modules/.mtpc-${_mtpc_openai_lock_sha})
    else()
      message(WARNING "mtpc: npm ci for the openai client test failed (${_mtpc_npm_rc}): ${_mtpc_npm_err}")
    endif()
  endif()
endif()

target_compile_definitions(mtpc_lsp_http_tests PRIVATE
  MTPC_BINARY="$<TARGET_FILE:mtpc>"
  MTPC_E2E_DIR="${PROJECT_SOURCE_DIR}/tests/e2e"
  MTPC_E2E_NODE_DIR="${CMAKE_CURRENT_BINARY_DIR}/e2e-node"
  MTPC_E2E_OPENAI_DIR="${MTPC_E2E_OPENAI_DIR}"
  MTPC_E2E_OPENAI_REQUIRED=${MTPC_E2E_OPENAI_REQUIRED})
add_dependencies(mtpc_lsp_http_tests mtpc)
gtest_discover_tests(mtpc_lsp_http_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)

# libFuzzer over Beast's request parser + HttpApi dispatch + the auth hook,
# with the torch-free stand-in model (like the LSP fuzzer), clang-14.
set(MTPC_HTTP_FUZZ_SECONDS 60 CACHE STRING "How long `make test` fuzzes the HTTP API")
mtpc_lsp_fuzzer(TARGET http_api_fuzz SOURCE http_fuzz.cpp TEST HttpApiFuzz.ParserAndDispatch
                SECONDS ${MTPC_HTTP_FUZZ_SECONDS} SEEDS http_fuzz_seeds
                COMMENT "clang-14 libFuzzer target over the HTTP request parser and API dispatch"
                DEPENDS ${PROJECT_SOURCE_DIR}/tests/common/stand_in_tokenizer.h)
