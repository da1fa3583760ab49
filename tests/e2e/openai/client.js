// The openai npm client (pinned in package-lock.json) against
// `mtpc serve --http`: one plain and one streamed /v1/completions request with
// the same greedy parameters. Prints one JSON line with both texts; exits 1
// (saying why) on any error or when the two texts differ.
// usage: node client.js BASE_URL PROMPT MAX_TOKENS
// The API key (a Bearer token of `mtpc serve --tokens`) comes from
// MTPC_API_KEY; an https:// BASE_URL with a private CA needs
// NODE_EXTRA_CA_CERTS=ca.pem.
const OpenAI = require('openai');

async function main() {
  const [baseURL, prompt, maxTokens] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey: process.env.MTPC_API_KEY || 'unused', maxRetries: 0, timeout: 60000 });
  const params = { model: 'mtpc', prompt, max_tokens: Number(maxTokens), temperature: 0 };
  const models = await client.models.list();
  if (!models.data.length || models.data[0].object !== 'model') throw new Error('bad model list: ' + JSON.stringify(models.data));
  const plain = await client.completions.create(params);
  if (plain.object !== 'text_completion' || plain.choices.length !== 1) throw new Error('bad reply: ' + JSON.stringify(plain));
  let streamed = '';
  let finish = null;
  let chunks = 0;
  const stream = await client.completions.create({ ...params, stream: true });
  for await (const chunk of stream) {
    chunks++;
    streamed += chunk.choices[0].text;
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  const out = { plain: plain.choices[0].text, streamed, chunks, finish_reason: plain.choices[0].finish_reason,
                stream_finish_reason: finish, usage: plain.usage };
  console.log(JSON.stringify(out));
  if (out.plain !== out.streamed) throw new Error('streamed text differs from the plain one');
  if (out.finish_reason !== out.stream_finish_reason) throw new Error('finish reasons differ');
  // A refused request comes back as the client's APIError with our message.
  try {
    await client.completions.create({ ...params, n: 2 });
    throw new Error('n = 2 was accepted');
  } catch (e) {
    if (!(e instanceof OpenAI.APIError) || e.status !== 400) throw e;
    console.log(JSON.stringify({ refused: e.status, message: e.message }));
  }
}

main().catch((e) => {
  console.error('openai client: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
