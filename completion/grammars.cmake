# The tree-sitter runtime and grammars behind completion/context.h (documents
# with syntax trees). Sets MTPC_TREE_SITTER_LIB and builds mtpc_ts_grammars.
#
# Grammars come from their npm packages at pinned versions, fetched at
# configure time with `npm pack`, checked against the sha256 pinned below and
# compiled from src/parser.c (+ src/scanner.c) as C. No grammar source is
# committed. Tarballs are cached outside the build dir so a fresh build dir
# does not refetch; a cached tarball is re-verified before use.
#
# All versions are grammar ABI 14: Debian's libtree-sitter 0.20.7 accepts 13-14.

if(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
  set(_mtpc_cache_default "$ENV{XDG_CACHE_HOME}/mtpc/grammars")
else()
  set(_mtpc_cache_default "$ENV{HOME}/.cache/mtpc/grammars")
endif()
if(NOT DEFINED MTPC_GRAMMAR_CACHE)
  set(MTPC_GRAMMAR_CACHE "${_mtpc_cache_default}" CACHE PATH
      "Where the grammar tarballs fetched with npm are kept across build dirs")
endif()
if(NOT MTPC_GRAMMAR_BUILD_DIR)
  set(MTPC_GRAMMAR_BUILD_DIR "${CMAKE_BINARY_DIR}/grammars")
endif()
if(NOT DEFINED MTPC_NPM_TIMEOUT)
  set(MTPC_NPM_TIMEOUT 300 CACHE STRING "Seconds one `npm pack` may take before configure fails")
endif()
if(NOT DEFINED MTPC_NPM)
  find_program(MTPC_NPM npm)
endif()

# Fetches NAME@VERSION into the cache (unless a verified copy is there),
# verifies its sha256 and unpacks it to ${MTPC_GRAMMAR_BUILD_DIR}/NAME.
# Sets ${OUT_DIR} to the unpacked package root.
function(mtpc_fetch_grammar name version sha256 out_dir)
  set(tarball "${MTPC_GRAMMAR_CACHE}/${name}-${version}.tgz")
  if(EXISTS "${tarball}")
    file(SHA256 "${tarball}" cached_sha)
    if(NOT cached_sha STREQUAL sha256)
      message(WARNING "mtpc: cached ${tarball} fails its checksum; fetching ${name}@${version} again")
      file(REMOVE "${tarball}")
    endif()
  endif()
  if(NOT EXISTS "${tarball}")
    if(NOT MTPC_NPM)
      message(FATAL_ERROR "mtpc: npm is needed to fetch the tree-sitter grammar ${name}@${version} "
                          "(Debian: nodejs npm; run `bash scripts/setup`)")
    endif()
    set(staging "${MTPC_GRAMMAR_BUILD_DIR}/npm-pack")
    file(REMOVE_RECURSE "${staging}")
    file(MAKE_DIRECTORY "${staging}" "${MTPC_GRAMMAR_CACHE}")
    message(STATUS "mtpc: fetching ${name}@${version} with npm pack")
    execute_process(
      COMMAND "${MTPC_NPM}" pack "${name}@${version}" --silent
      WORKING_DIRECTORY "${staging}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
      TIMEOUT ${MTPC_NPM_TIMEOUT})
    set(fetched "${staging}/${name}-${version}.tgz")
    if(NOT rc EQUAL 0 OR NOT EXISTS "${fetched}")
      message(FATAL_ERROR "mtpc: fetching the tree-sitter grammar ${name}@${version} failed "
                          "(npm pack: ${rc}): ${err}")
    endif()
    file(SHA256 "${fetched}" fetched_sha)
    if(NOT fetched_sha STREQUAL sha256)
      file(REMOVE "${fetched}")
      message(FATAL_ERROR "mtpc: checksum mismatch for the tree-sitter grammar ${name}@${version}: "
                          "expected sha256 ${sha256}, got ${fetched_sha}")
    endif()
    file(RENAME "${fetched}" "${tarball}")
  endif()

  set(dest "${MTPC_GRAMMAR_BUILD_DIR}/${name}")
  set(stamp "${dest}/.mtpc-unpacked-${sha256}")
  if(NOT EXISTS "${stamp}")
    file(REMOVE_RECURSE "${dest}")
    file(ARCHIVE_EXTRACT INPUT "${tarball}" DESTINATION "${dest}")
    file(TOUCH "${stamp}")
  endif()
  set(${out_dir} "${dest}/package" PARENT_SCOPE)
endfunction()

# `cmake -P` scripts (tests/completion/context_grammar_test.cpp) include this file
# for mtpc_fetch_grammar alone.
if(CMAKE_SCRIPT_MODE_FILE)
  return()
endif()

enable_language(C)

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(TREE_SITTER IMPORTED_TARGET tree-sitter)
endif()
if(TARGET PkgConfig::TREE_SITTER)
  set(MTPC_TREE_SITTER_LIB PkgConfig::TREE_SITTER)
else()
  find_library(MTPC_TREE_SITTER_LIBRARY NAMES tree-sitter)
  find_path(MTPC_TREE_SITTER_INCLUDE tree_sitter/api.h)
  if(NOT MTPC_TREE_SITTER_LIBRARY OR NOT MTPC_TREE_SITTER_INCLUDE)
    message(FATAL_ERROR "mtpc: the tree-sitter runtime was not found (Debian: libtree-sitter-dev; run `bash scripts/setup`)")
  endif()
  add_library(mtpc_tree_sitter_runtime INTERFACE)
  target_link_libraries(mtpc_tree_sitter_runtime INTERFACE ${MTPC_TREE_SITTER_LIBRARY})
  target_include_directories(mtpc_tree_sitter_runtime INTERFACE ${MTPC_TREE_SITTER_INCLUDE})
  set(MTPC_TREE_SITTER_LIB mtpc_tree_sitter_runtime)
endif()

# name version sha256 grammar-subdirs (relative to the package root)
set(MTPC_GRAMMARS
  "tree-sitter-python|0.23.6|aab5b860d93dbf84b37fed532f7dacc0468ede5387d0c74911d68f964287662a|."
  "tree-sitter-javascript|0.23.1|90e80b25a67517a4daf6ad751557bee21efbda7b7a5a554897933245d1734398|."
  "tree-sitter-typescript|0.23.2|0fdf63c35930a75885145d75ee63cb879da2d49db9bfe454bd8e60b08ba778a1|typescript,tsx"
  "tree-sitter-c|0.23.6|88175d4425037ec0026233a44f82064a676573b1fd748fc709ae607332151243|."
  "tree-sitter-cpp|0.23.4|615d152f70e7a6bed8f15a93c3c0c264c40dc71c1b6a1445646fff9439e776bc|."
  "tree-sitter-go|0.23.4|8779d20d322b4319ad8c833ea72ecb6d109cf1fec8979bdcdb5315a2e511dd2c|."
  "tree-sitter-rust|0.23.3|5c1d96a9628875c7ba122da1a3aa0bf62b547b5a720673fa318336de27506c66|."
  "tree-sitter-java|0.23.5|6b6c1b62605f9d8bb80efd2ebe5951a87b182faafa3eeb67c460a667818551b6|."
)

set(_mtpc_grammar_sources)
foreach(entry IN LISTS MTPC_GRAMMARS)
  string(REPLACE "|" ";" fields "${entry}")
  list(GET fields 0 g_name)
  list(GET fields 1 g_version)
  list(GET fields 2 g_sha)
  list(GET fields 3 g_subdirs)
  mtpc_fetch_grammar(${g_name} ${g_version} ${g_sha} g_root)
  string(REPLACE "," ";" g_subdirs "${g_subdirs}")
  foreach(sub IN LISTS g_subdirs)
    set(src "${g_root}/${sub}/src")
    if(NOT EXISTS "${src}/parser.c")
      message(FATAL_ERROR "mtpc: ${g_name}@${g_version} has no ${sub}/src/parser.c")
    endif()
    list(APPEND _mtpc_grammar_sources "${src}/parser.c")
    if(EXISTS "${src}/scanner.c")
      list(APPEND _mtpc_grammar_sources "${src}/scanner.c")
    endif()
  endforeach()
endforeach()

# Generated C: built as the grammar authors ship it, warnings off (not ours).
add_library(mtpc_ts_grammars STATIC ${_mtpc_grammar_sources})
set_target_properties(mtpc_ts_grammars PROPERTIES
  C_STANDARD 11 POSITION_INDEPENDENT_CODE ON C_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
target_compile_options(mtpc_ts_grammars PRIVATE -w)
