// The openai npm client against a server with a small --requests-per-minute:
// sends completions until one is refused, and checks that the client sees
// it as its own RateLimitError (status 429) with the server's message and a
// Retry-After header. Prints one JSON line; exits 1 (saying why) otherwise.
// usage: node rate_limit.js BASE_URL MAX_REQUESTS   (MTPC_API_KEY: the token)
const OpenAI = require('openai');

async function main() {
  const [baseURL, maxRequests] = process.argv.slice(2);
  const client = new OpenAI({ baseURL, apiKey: process.env.MTPC_API_KEY || 'unused', maxRetries: 0, timeout: 60000 });
  let answered = 0;
  for (let i = 0; i < Number(maxRequests); i++) {
    try {
      await client.completions.create({ model: 'mtpc', prompt: 'x = ', max_tokens: 2, temperature: 0 });
      answered++;
    } catch (e) {
      if (!(e instanceof OpenAI.RateLimitError)) throw e;
      const retryAfter = e.headers && e.headers['retry-after'];
      const out = { answered, status: e.status, type: e.error && e.error.type, code: e.code, retryAfter, message: e.message };
      console.log(JSON.stringify(out));
      if (e.status !== 429 || !retryAfter || !(Number(retryAfter) >= 1)) throw new Error('no Retry-After: ' + JSON.stringify(out));
      if (e.code !== 'rate_limit_exceeded' || !/requests-per-minute/.test(e.message)) throw new Error('not our body: ' + JSON.stringify(out));
      return;
    }
  }
  throw new Error(`all ${answered} requests were answered: no rate limit`);
}

main().catch((e) => {
  console.error('openai rate limit: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
