// The strings the BPE tokenizer is checked on against Hugging Face's
// tokenizers (bpe_tokenizer_test.cpp): code in the 8 languages the server
// parses, cut into lines, windows and random slices; Unicode (CJK, emoji,
// combining marks that NFC composes); whitespace runs; digits; "".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mtpc::testing {

inline const std::vector<std::string>& bpe_code_snippets() {
  static const std::vector<std::string> snippets = {
      // python
      R"(import os, sys
from typing import List, Optional

class Cache:
    """LRU cache with a max size."""
    def __init__(self, size: int = 128) -> None:
        self._size = size
        self._items: dict[str, bytes] = {}

    def get(self, key: str) -> Optional[bytes]:
        if key not in self._items:
            return None
        value = self._items.pop(key)
        self._items[key] = value  # move to the end
        return value

def main(argv: List[str]) -> int:
    total = sum(int(x) ** 2 for x in argv[1:] if x.isdigit())
    print(f"total={total:08d}\t{len(argv)!r}")
    return 0 if total >= 1_000_000 else 1

if __name__ == '__main__':
    sys.exit(main(sys.argv))
)",
      // javascript
      R"('use strict';
const fs = require('fs');

async function readJson(path) {
  const text = await fs.promises.readFile(path, 'utf8');
  return JSON.parse(text);
}

export default class Queue {
  #items = [];
  push(x) { this.#items.push(x); return this; }
  shift() { return this.#items.length ? this.#items.shift() : undefined; }
}

const sq = (n) => n * n;
console.log(`sq(12) = ${sq(12)}`, [1, 2, 3].map(sq).filter((v) => v % 2 === 1));
if (x !== null && typeof x === "object") { delete x['key']; }
)",
      // typescript
      R"(interface User {
  id: number;
  name: string;
  email?: string | null;
}

type Handler<T> = (event: T) => Promise<void>;

export function groupBy<T, K extends keyof any>(xs: readonly T[], key: (x: T) => K): Record<K, T[]> {
  return xs.reduce((acc, x) => {
    (acc[key(x)] ||= []).push(x);
    return acc;
  }, {} as Record<K, T[]>);
}

enum Color { Red = 'RED', Green = 'GREEN' }
const users: Array<User> = [{ id: 1, name: "Ada" }];
)",
      // c
      R"(#include <stdio.h>
#include <stdlib.h>

/* Reads numbers, prints their mean. */
int main(int argc, char **argv) {
    double sum = 0.0;
    long n = 0;
    for (int i = 1; i < argc; ++i) {
        char *end = NULL;
        double v = strtod(argv[i], &end);
        if (*end != '\0') { fprintf(stderr, "bad: %s\n", argv[i]); return 2; }
        sum += v; n++;
    }
    printf("%.3f\n", n ? sum / n : 0.0);
    return 0;
}
)",
      // cpp
      R"(#include <memory>
#include <vector>

namespace geo {

template <typename T>
struct Point { T x{}, y{}; };

class Shape {
 public:
  virtual ~Shape() = default;
  virtual double area() const noexcept = 0;
};

std::unique_ptr<Shape> make_square(double side);

}  // namespace geo

int main() {
  std::vector<geo::Point<int>> pts{{1, 2}, {3, 4}};
  for (const auto& [x, y] : pts) std::cout << x << ',' << y << '\n';
  auto lambda = [&pts](int k) -> int { return static_cast<int>(pts.size()) * k; };
  return lambda(0x1F) >> 2;
}
)",
      // go
      R"(package main

import (
	"fmt"
	"strings"
)

type Server struct {
	Addr    string
	Handler func(w Writer, r *Request) error
}

func (s *Server) Listen() error {
	if s.Addr == "" {
		return fmt.Errorf("empty address: %q", s.Addr)
	}
	for i, part := range strings.Split(s.Addr, ":") {
		fmt.Println(i, part)
	}
	ch := make(chan int, 10)
	go func() { ch <- 42 }()
	return nil
}
)",
      // rust
      R"(use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Token<'a> {
    Ident(&'a str),
    Number(i64),
}

pub fn count_words(text: &str) -> HashMap<&str, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word).or_insert(0) += 1;
    }
    counts
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let v: Vec<u32> = (1..=10).filter(|n| n % 3 == 0).collect();
    println!("{:?} {}", v, v.iter().sum::<u32>());
    Ok(())
}
)",
      // java
      R"(package com.example.util;

import java.util.*;
import java.util.stream.Collectors;

public final class Strings {
    private Strings() {}

    /** Joins non-empty parts with a comma. */
    public static String joinNonEmpty(List<String> parts) {
        return parts.stream()
                .filter(p -> p != null && !p.isEmpty())
                .collect(Collectors.joining(", "));
    }

    @Override
    public String toString() { return "Strings@" + Integer.toHexString(hashCode()); }

    public static void main(String[] args) throws Exception {
        Map<String, Integer> m = new HashMap<>();
        m.put("a", 1); System.out.println(m.getOrDefault("b", -1L == 0 ? 0 : 2));
    }
}
)",
  };
  return snippets;
}

inline const std::vector<std::string>& bpe_unicode_strings() {
  static const std::vector<std::string> strings = {
      "你好，世界！这是一个测试。",
      "日本語のテキストと漢字、ひらがな、カタカナ。",
      "한국어 문장입니다. 안녕하세요!",
      "emoji: 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇩🇪 ❤️",
      "caf\xC3\xA9 vs cafe\xCC\x81",          // precomposed and combining acute
      "A\xCC\x8A ring, n\xCC\x83 tilde, o\xCC\x88\xCC\x81 two marks",
      "\xE1\x84\x80\xE1\x85\xA1 conjoining jamo",  // NFC composes to 가
      "Ελληνικά κείμενα και ρωτήσεις;",
      "Русский текст: «кавычки» — тире…",
      "עברית ועוד العربية مع أرقام ١٢٣",
      "हिन्दी में पाठ और अंक १२३",
      "math: ∀x∈ℝ, x² ≥ 0; ∑ᵢ aᵢ ≠ ∞",
      "full-width：ＡＢＣ１２３！",
      "tabs\tand\u00A0no-break\u2003em space\u3000ideographic",
      "zero\u200Bwidth\u200Djoiner",
      "// 注释: 计算总和\nint sum = 0; // 合计",
      "print(\"héllo wörld\")  # ünïcödé",
      "let s = \"🚀 launch\"; // 🎉",
  };
  return strings;
}

// Lines, 2- and 3-line windows, whole snippets, deterministic random slices
// of the snippets, the Unicode set and combinations, whitespace runs,
// digits and the empty string: well over 1,000 strings.
inline std::vector<std::string> bpe_test_strings() {
  std::vector<std::string> out{""};
  for (const std::string& s : bpe_code_snippets()) {
    out.push_back(s);
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < s.size()) {
      size_t nl = s.find('\n', start);
      size_t end = nl == std::string::npos ? s.size() : nl + 1;
      lines.push_back(s.substr(start, end - start));
      start = end;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      out.push_back(lines[i]);
      if (i + 1 < lines.size()) out.push_back(lines[i] + lines[i + 1]);
      if (i + 2 < lines.size()) out.push_back(lines[i] + lines[i + 1] + lines[i + 2]);
    }
  }
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state](uint64_t bound) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % bound;
  };
  const auto& snippets = bpe_code_snippets();
  for (int i = 0; i < 400; ++i) {  // slices that start and end anywhere (cursor positions)
    const std::string& s = snippets[next(snippets.size())];
    size_t a = next(s.size()), len = 1 + next(120);
    out.push_back(s.substr(a, len));
  }
  for (const std::string& u : bpe_unicode_strings()) {
    out.push_back(u);
    out.push_back(" " + u + "\n");
    out.push_back(u + u);
  }
  for (int i = 0; i < 60; ++i) {  // Unicode inside code
    const auto& us = bpe_unicode_strings();
    const std::string& s = snippets[next(snippets.size())];
    size_t a = next(s.size());
    out.push_back(s.substr(a, 40) + us[next(us.size())] + s.substr(a, 20));
  }
  const char* spaces[] = {" ", "  ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\n    ", "   \n\n\t "};
  for (const char* w : spaces) {
    out.push_back(w);
    out.push_back(std::string("x") + w + "y");
    out.push_back(std::string(w) + "return");
    out.push_back(std::string("end") + w);
  }
  for (int n : {1, 2, 3, 7, 16, 33, 100}) out.push_back(std::string(n, ' '));
  for (int n : {2, 5, 40}) out.push_back(std::string(n, '\n'));
  const char* digits[] = {"0", "7", "12", "123", "1234", "12345678901234567890", "3.14159", "1e-9", "0x7fff_ffff",
                          "1,000,000", "v1.2.3", "2026-12-05T23:25:00Z", "a1b22c333", "٣٤٥ ۶۷۸", "①②③"};
  for (const char* d : digits) {
    out.push_back(d);
    out.push_back(std::string(" ") + d);
    out.push_back(std::string("x = ") + d + ";");
  }
  return out;
}

}  // namespace mtpc::testing
