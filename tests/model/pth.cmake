# The .pth reader and Meta-layout tests (model and inference binaries) run
# Python fixtures from this folder (tests/model/python_fixture.h).
# Set on those sources only, so that the other tests' objects stay cached.
set_property(SOURCE
  ${CMAKE_CURRENT_SOURCE_DIR}/model/pth_reader_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/model/meta_checkpoint_test.cpp
  ${CMAKE_CURRENT_SOURCE_DIR}/inference/meta_model_test.cpp
  PROPERTY COMPILE_DEFINITIONS
    MTPC_TEST_MODEL_DIR="${CMAKE_CURRENT_SOURCE_DIR}/model"
    MTPC_TEST_FIXTURE_CACHE="${CMAKE_CURRENT_BINARY_DIR}/python-fixtures")

# libFuzzer over the restricted .pth reader (tests/model/fuzz/pth_fuzz.cpp), built
# with clang-14 when it is there, like the LSP fuzzer. Torch-free sources only.
# Seeds: a torch.save'd state dict and the malicious pickles of
# tests/model/pth_fixtures.py, copied to tests/model/fuzz/pth_seeds/.
find_program(MTPC_CLANG14_PTH clang++-14)
set(MTPC_PTH_FUZZ_SECONDS 20 CACHE STRING "How long `make test` fuzzes the .pth reader")
if(MTPC_CLANG14_PTH)
  set(_pth_fuzzer ${CMAKE_CURRENT_BINARY_DIR}/pth_reader_fuzz)
  set(_pth_sources
    ${PROJECT_SOURCE_DIR}/model/checkpoint/pth_zip.cpp
    ${PROJECT_SOURCE_DIR}/model/checkpoint/pth_unpickle.cpp
    ${PROJECT_SOURCE_DIR}/model/checkpoint/safetensors.cpp
    ${PROJECT_SOURCE_DIR}/base/atomic_file.cpp)
  add_custom_command(
    OUTPUT ${_pth_fuzzer}
    COMMAND ${MTPC_CLANG14_PTH} -std=c++17 -O1 -g -fsanitize=fuzzer,address -I${PROJECT_SOURCE_DIR}
            ${CMAKE_CURRENT_SOURCE_DIR}/model/fuzz/pth_fuzz.cpp ${_pth_sources} -o ${_pth_fuzzer}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/model/fuzz/pth_fuzz.cpp ${_pth_sources}
            ${PROJECT_SOURCE_DIR}/model/checkpoint/pth_reader.h
    COMMENT "clang-14 libFuzzer target over the .pth reader"
    VERBATIM)
  add_custom_target(mtpc_pth_reader_fuzzer ALL DEPENDS ${_pth_fuzzer})
  file(MAKE_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/pth-fuzz-corpus)
  add_test(NAME PthReaderFuzz.OpenAnyBytes
           COMMAND ${_pth_fuzzer} -max_total_time=${MTPC_PTH_FUZZ_SECONDS} -rss_limit_mb=2048 -timeout=10
                   -print_final_stats=1 ${CMAKE_CURRENT_BINARY_DIR}/pth-fuzz-corpus
                   ${CMAKE_CURRENT_SOURCE_DIR}/model/fuzz/pth_seeds)
  set_tests_properties(PthReaderFuzz.OpenAnyBytes PROPERTIES TIMEOUT 300)
else()
  message(STATUS "mtpc: clang++-14 not found; the .pth reader fuzzer is not built (scripts/setup installs it)")
endif()
