# Context tests: documents, prompts, scopes, stop rule and finalize for the
# eight grammars and plain text (lsp/context.h). Torch-free.
file(GLOB MTPC_LSP_CONTEXT_TESTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/context_*.cpp)
add_executable(mtpc_lsp_context_tests ${MTPC_LSP_CONTEXT_TESTS})
target_include_directories(mtpc_lsp_context_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
target_link_libraries(mtpc_lsp_context_tests PRIVATE mtpc_lsp_context GTest::gtest GTest::gtest_main)
gtest_discover_tests(mtpc_lsp_context_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300)
target_compile_definitions(mtpc_lsp_context_tests PRIVATE
  MTPC_CMAKE_COMMAND="${CMAKE_COMMAND}"
  MTPC_CONTEXT_CMAKE="${PROJECT_SOURCE_DIR}/lsp/context.cmake")
